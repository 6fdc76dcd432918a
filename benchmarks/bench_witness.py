"""Witness speed (issue 10, "Performance": a witness cosigns at least 1,000 checkpoints/s).

Part 1, in process. A log of L origins grows by one entry per checkpoint; every add-checkpoint body
(old size, RFC 9162 consistency proof, the log-signed checkpoint note) is made before timing. Timed:
``Witness.add_checkpoint(body)`` for each, in order, on a SQLite state file on disk (WAL,
``synchronous=FULL``: one fsync per cosignature). Baselines in the same run, on the same bodies:

  * the crypto floor: bare Ed25519 verify of the log's signature + sign of the cosignature message;
  * the durability floor: the state's ``compare_and_swap`` alone, one committed row per checkpoint.

Part 2, over HTTP. A real ``disgorge witness serve`` subprocess (one uvicorn worker) on a loopback port;
the clients are this process (1 or 4 threads) or two spawned client processes of 2 threads, each thread
with its own keep-alive httpx client and its own log, posting the prepared bodies in order, bounded by
count and time. Baseline: ``GET /healthz`` (a route returning a constant) on the same server with the
same clients.

    python benchmarks/bench_witness.py            # 20,000 checkpoints in process, 10,000 per HTTP run
    python benchmarks/bench_witness.py --quick    # 3,000 and 2,000: under 30 s
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[0]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from _common import machine, table
from disgorge.ledger.cosignature import cosignature_message, cosigner_vkey
from disgorge.ledger.merkle import leaf_hash
from disgorge.ledger.note import Checkpoint, NoteVerifier, sign_checkpoint, verifier_key
from disgorge.ledger.tree import MerkleTreeStore
from disgorge.witness.config import create_witness_key
from disgorge.witness.core import LogConfig, Witness
from disgorge.witness.protocol import format_add_checkpoint
from disgorge.witness.state import Recorded, WitnessState

DISGORGE = str(Path(sys.executable).with_name("disgorge"))


class Chain:
    """One log's prepared add-checkpoint bodies: sizes 1, 2, ..., n, each proved from the one before."""

    def __init__(self, origin: str, n: int) -> None:
        self.origin = origin
        self.key = Ed25519PrivateKey.generate()
        self.vkey = verifier_key("log", self.key.public_key())
        tree = MerkleTreeStore()
        self.bodies: list[bytes] = []
        self.notes: list[tuple[str, Checkpoint]] = []
        for size in range(1, n + 1):
            tree.append(leaf_hash(b"%s %d" % (origin.encode(), size)))
            cp = Checkpoint(origin, size, tree.root())
            note = sign_checkpoint(cp, self.key, "log")
            proof = [] if size == 1 else tree.consistency_proof(size - 1, size)
            self.bodies.append(format_add_checkpoint(size - 1, proof, note))
            self.notes.append((note, cp))

    def config(self) -> LogConfig:
        return LogConfig(self.origin, (NoteVerifier.parse(self.vkey),))


def crypto_floor(chain: Chain, witness_key: Ed25519PrivateKey) -> float:
    public = chain.key.public_key()
    t = time.perf_counter()
    for note, cp in chain.notes:
        body, _, sig = note.partition("\n\n")
        public.verify(base64.b64decode(sig.split(" ")[-1])[4:], (body + "\n").encode())
        witness_key.sign(cosignature_message(cp.to_body(), 1_800_000_000))
    return len(chain.notes) / (time.perf_counter() - t)


def durability_floor(tmp: Path, n: int) -> float:
    with WitnessState(tmp / "floor.db", "floor+00000000+BA==") as state:
        previous = None
        t = time.perf_counter()
        for size in range(1, n + 1):
            new = Recorded(size, size.to_bytes(32, "big"), "note\n", 0)
            assert state.compare_and_swap("o", previous, new)
            previous = new
        return n / (time.perf_counter() - t)


def in_process(tmp: Path, chain: Chain, witness_key: Ed25519PrivateKey) -> float:
    name = "bench.example/w"
    with WitnessState(tmp / "inproc.db", cosigner_vkey(name, witness_key.public_key())) as state:
        witness = Witness(name, witness_key, [chain.config()], state)
        t = time.perf_counter()
        for body in chain.bodies:
            witness.add_checkpoint(body)
        return len(chain.bodies) / (time.perf_counter() - t)


def in_process_threads(tmp: Path, chains: list[Chain], witness_key: Ed25519PrivateKey) -> tuple[float, int]:
    """One thread per log on one witness: concurrent updates share commits (one fsync per group)."""
    name = "bench.example/w"
    with WitnessState(tmp / "threads.db", cosigner_vkey(name, witness_key.public_key())) as state:
        witness = Witness(name, witness_key, [c.config() for c in chains], state)

        def run(chain: Chain) -> None:
            for body in chain.bodies:
                witness.add_checkpoint(body)

        threads = [threading.Thread(target=run, args=(c,)) for c in chains]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        return sum(len(c.bodies) for c in chains) / elapsed, state.transactions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, chains: list[Chain]) -> tuple[subprocess.Popen[bytes], str]:
    key = tmp / "w.key"
    if not key.exists():
        create_witness_key(key, "bench.example/http")
    port = free_port()
    args = [
        DISGORGE,
        "witness",
        "serve",
        "--key",
        str(key),
        "--port",
        str(port),
        "--state",
        str(tmp / f"s{port}.db"),
    ]
    for c in chains:
        args += ["--log", f"{c.origin}={c.vkey}"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the witness did not start")


def over_http(url: str, jobs: list[list[bytes] | int], seconds: float) -> tuple[float, int]:
    """Requests/s with one thread per job (a list of bodies to POST in order, or a count of GETs)."""
    done = [0] * len(jobs)
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    def run(i: int, job: list[bytes] | int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            items = range(job) if isinstance(job, int) else job
            for item in items:
                if time.perf_counter() > stop_at:
                    return
                r = (
                    http.get("/healthz")
                    if isinstance(item, int)
                    else http.post("/add-checkpoint", content=item)
                )
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:100]}")
                    return
                done[i] += 1

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    if failures:
        raise SystemExit(f"witness refused a prepared checkpoint: {failures[0]}")
    return sum(done) / elapsed, sum(done)


def _client_process(url: str, jobs: list[list[bytes] | int], seconds: float, go: Any, out: Any) -> None:
    go.wait()
    out.put(over_http(url, jobs, seconds)[1])


def over_http_processes(url: str, groups: list[list[list[bytes] | int]], seconds: float) -> tuple[float, int]:
    """Requests/s with one client process per group, each running :func:`over_http` on its jobs."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client_process, args=(url, jobs, seconds, go, out)) for jobs in groups]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let the children import before the clock starts
    t = time.perf_counter()
    go.set()
    counts = [out.get(timeout=seconds + 60) for _ in procs]
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join(10)
        if p.exitcode != 0:
            raise SystemExit(f"a client process failed (exit {p.exitcode})")
    return sum(counts) / elapsed, sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under 30 s")
    args = parser.parse_args()
    n_local, n_http, seconds = (3_000, 2_000, 8.0) if args.quick else (20_000, 10_000, 60.0)
    print(f"# bench_witness {'--quick' if args.quick else ''}\n{machine()}\n")
    witness_key = Ed25519PrivateKey.generate()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-witness-", dir=Path.cwd()) as d:
        tmp = Path(d)
        chain = Chain("bench.example/log", n_local)
        crypto = crypto_floor(chain, witness_key)
        floor = durability_floor(tmp, n_local)
        local = in_process(tmp, chain, witness_key)
        many = [Chain(f"bench.example/t{i}", n_local // 4) for i in range(4)]
        grouped, commits = in_process_threads(tmp, many, witness_key)
        rows = [
            ["Ed25519 verify + sign (crypto floor)", f"{crypto:,.0f}", "1.00x"],
            ["state compare_and_swap alone (fsync floor)", f"{floor:,.0f}", f"{floor / crypto:.2f}x"],
            ["Witness.add_checkpoint, in process, one log", f"{local:,.0f}", f"{local / crypto:.2f}x"],
            [
                f"the same, 4 logs on 4 threads ({commits:,} commits for {4 * (n_local // 4):,})",
                f"{grouped:,.0f}",
                f"{grouped / crypto:.2f}x",
            ],
        ]
        print(f"In process, {n_local:,} checkpoints (ratio to the crypto floor):\n")
        print(table(["what", "per second", "ratio"], rows))

        http_rows = []
        # (client processes, threads each): the client is Python too, so one process of threads is
        # bound by its own GIL; two processes show more of what the server sustains.
        for procs, threads in ((1, 1), (1, 4), (2, 2)):
            clients = procs * threads
            chains = [Chain(f"bench.example/log{i}", n_http // clients) for i in range(clients)]
            proc, url = start_server(tmp, chains)
            try:
                gets: list[list[bytes] | int] = [n_http // clients] * clients
                posts: list[list[bytes] | int] = [c.bodies for c in chains]
                if procs == 1:
                    base, _ = over_http(url, gets, seconds)
                    rate, count = over_http(url, posts, seconds)
                else:
                    parts = [slice(i * threads, (i + 1) * threads) for i in range(procs)]
                    base, _ = over_http_processes(url, [gets[p] for p in parts], seconds)
                    rate, count = over_http_processes(url, [posts[p] for p in parts], seconds)
            finally:
                proc.terminate()
                proc.wait(10)
            http_rows.append(
                [
                    f"{procs} client process(es) x {threads} thread(s), {clients} log(s)",
                    f"{base:,.0f}",
                    f"{rate:,.0f}",
                    f"{count:,}",
                    f"{rate / base:.2f}x",
                    f"{rate / local:.2f}x",
                ]
            )
        print("\nOver HTTP, real `disgorge witness serve` (a subprocess), keep-alive clients:\n")
        print(
            table(
                [
                    "clients",
                    "GET /healthz /s",
                    "add-checkpoint /s",
                    "cosigned",
                    "vs healthz",
                    "vs in-process",
                ],
                http_rows,
            )
        )
    best = max(float(r[2].replace(",", "")) for r in http_rows)
    local = max(local, grouped)
    print(
        f"\ngoal >= 1,000 cosignatures/s: in process {local:,.0f} ({'met' if local >= 1000 else 'missed'}), "
        f"over HTTP {best:,.0f} ({'met' if best >= 1000 else 'missed'}); {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
