"""The team server under load (issue 11): ``GET /api/v1/impact`` by subject and a gated run start
(``POST /api/v1/runs``, the consent check of a dataset) side by side with a bare FastAPI route that
returns a constant, all on the same server process (the stack's own limit here), in one run.

The server is ``create_app`` under uvicorn in a child process, as ``disgorge serve`` runs it, over a
catalog of N synthetic assets (N/10 subjects, one source, one dataset of every asset, three runs
that read it and the chain of three models they made) on PostgreSQL (or SQLite without it); the load comes from this process on loopback: C threads, each with its own
keep-alive httpx client, for D seconds per endpoint. Prints requests/s, p50 and p99 and the ratio of
each to the constant route. Every impact is measured before any run start (each started run reads the
dataset, and would make every later impact answer longer).

    python benchmarks/bench_server.py                 # 200k assets, 4 clients, 10 s per endpoint
    python benchmarks/bench_server.py --quick         # 5k assets, 2 clients, 3 s (make bench)
    python benchmarks/bench_server.py --sqlite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[0]))

from _common import PG_ADMIN, WRK, load_wrk, machine, pct, pg_available, scratch_pg, table

SERVER = """
import socket, sys, uvicorn, disgorge
from pathlib import Path
from disgorge.server import create_app
from disgorge.server.workers import run

home, url, port, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
options = {"log_level": "warning", "access_log": False}
if workers > 1:  # as disgorge serve --workers runs them
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio: TCP_NODELAY
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    run(options, sock, home=home, catalog_url=url, jobs=None, job_workers=1, workers=workers,
        factory="_server_app:app", log=False)
    sys.exit(0)
cat = disgorge.open(home, catalog_url=url, identity=False)
app = create_app(cat)

@app.get("/bench/constant")
def constant() -> dict[str, int]:
    return {"ok": 1}

uvicorn.run(app, host="127.0.0.1", port=port, **options)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(home: Path, url: str, n: int, consent_share: float = 0.0) -> tuple[str, list[str]]:
    """A claimed catalog of ``n`` assets, with consent events for ``consent_share`` of the subjects;
    returns an engineer's token and the subjects."""
    import disgorge
    from disgorge.access.tokens import TokenService
    from disgorge.model import AssetRecord
    from disgorge.trust import Identity

    admin, eng = Identity.generate("ann"), Identity.generate("eve")
    subjects = [f"subject-{k}" for k in range(max(1, n // 10))]
    with disgorge.open(home, catalog_url=url, identity=admin) as cat:
        cat.init()
        cat.change_roster("roster.add", "eve", key=eng.public_key, roles=["engineer"])
        src, _ = cat.add_source(
            "site", notice=b"we operate the service", uses=["essential.service"], recipients=["site"]
        )
        step = 5000
        for lo in range(0, n, step):
            batch = []
            for i in range(lo, min(n, lo + step)):
                sha = hashlib.sha256(f"asset {i}".encode()).hexdigest()
                batch.append(
                    AssetRecord(
                        sha,
                        1000 + i,
                        "image/jpeg",
                        f"file:///data/{i}.jpg",
                        0,
                        i,
                        subject=subjects[i % len(subjects)],
                    )
                )
            cat.store.register(batch, source_id=src.id, notice_id=src.notice_id)
        if consent_share > 0:  # consent events the gate folds on each run start
            rows = [
                f"{subj},essential.service,site,granted,2024-05-01T00:00:00Z,1"
                for subj in subjects[: int(len(subjects) * consent_share)]
            ]
            consent = home.parent / "consent.csv"
            consent.write_text(
                "subject_id,use,recipient,action,timestamp,notice_version\n" + "\n".join(rows) + "\n"
            )
            cat.import_consent(consent)
        cat.create_dataset("faces", source="site")
        with tempfile.TemporaryDirectory() as models:  # a closure to walk: 3 runs, 3 models, a chain
            parent: list[str] = []
            for k in range(3):
                weights = Path(models) / f"m{k}.bin"
                weights.write_bytes(f"weights {k}".encode())
                inputs = ["dataset:faces", *(f"model:{p}" for p in parent)]
                with cat.run(f"train-{k}", use="essential.service", party="site", inputs=inputs) as r:
                    r.log_model(weights, name=f"net-{k}", parents=parent)
                parent = [f"net-{k}"]
        _, token = TokenService(cat.store).issue(cat.principal, "bench", principal="eve")
    return token, subjects


def load(
    base: str, token: str, method: str, path: object, body: object, clients: int, seconds: float
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of ``clients`` threads for ``seconds``."""
    import httpx

    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            n = 0
            while time.perf_counter() < stop:
                url = path(k, n) if callable(path) else path
                t = time.perf_counter()
                r = c.request(method, str(url), json=body(k, n) if callable(body) else body)
                lat[k].append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[k] += 1
                n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    flat = [x for xs in lat for x in xs]
    return len(flat) / wall, pct(flat, 50) * 1000, pct(flat, 99) * 1000, sum(errors)


def in_process(
    home: Path, url: str, token: str, subjects: list[str], seconds: float, only: str
) -> dict[str, tuple[float, float, float, str]]:
    """The same two calls on the facade directly: what the catalog costs, without HTTP or the server;
    with the SQL statements and pool checkouts per call (round trips: what a loaded machine makes slow)
    and this process's CPU time per call."""
    from sqlalchemy import event

    import disgorge
    from disgorge.access.tokens import TokenService

    out = {}
    with disgorge.open(home, catalog_url=url, identity=False) as cat:
        seen = {"statements": 0, "checkouts": 0}

        def _stmt(*_a: object) -> None:
            seen["statements"] += 1

        def _checkout(*_a: object) -> None:
            seen["checkouts"] += 1

        event.listen(cat.store.engine, "before_cursor_execute", _stmt)
        event.listen(cat.store.engine, "checkout", _checkout)
        view = cat.acting_as(TokenService(cat.store).authenticate(token))
        calls = {
            "GET impact by subject": lambda n: view.impact("subject", subjects[(n * 7919) % len(subjects)]),
            "gated run start": lambda n: view.run(
                f"d{n}", use="essential.service", party="site", inputs=["dataset:faces"]
            ),
        }
        for label, call in calls.items():
            if label != only:
                continue
            call(0)
            seen.update(statements=0, checkouts=0)
            lat, stop, cpu = [], time.perf_counter() + seconds / 2, time.process_time()
            while time.perf_counter() < stop:
                t = time.perf_counter()
                call(len(lat) + 1)
                lat.append(time.perf_counter() - t)
            cpu = (time.process_time() - cpu) / len(lat) * 1000
            note = (
                f"{seen['statements'] / len(lat):.0f} SQL statements, {seen['checkouts'] / len(lat):.0f} "
                f"connection checkout, {cpu:.1f} ms CPU per call"
            )
            out[label] = (len(lat) / sum(lat), pct(lat, 50) * 1000, pct(lat, 99) * 1000, note)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--consent-share", type=float, default=0.5, help="share of subjects with a consent event")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="server processes (disgorge serve --workers)")
    ap.add_argument(
        "--load",
        choices=["wrk", "httpx"],
        default="wrk" if WRK else "httpx",
        help="load generator: wrk in a second process (default when installed: apt-get install wrk) or "
        "httpx threads in this one",
    )
    args = ap.parse_args()
    if args.quick:
        args.assets, args.clients, args.seconds = 5_000, 2, 3.0
    use_pg = not args.sqlite and pg_available(PG_ADMIN)
    print(machine())
    print(
        f"{args.assets} assets on {'PostgreSQL' if use_pg else 'SQLite'}, consent events for "
        f"{args.consent_share:.0%} of the subjects, {args.workers} server worker(s), "
        f"{args.clients} connections from {args.load}, "
        f"{args.seconds:g} s each"
    )
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        ctx = scratch_pg(PG_ADMIN, "bench_server") if use_pg else None
        url = ctx.__enter__() if ctx else f"sqlite:///{Path(tmp) / 'catalog.db'}"
        proc = None
        try:
            t = time.perf_counter()
            token, subjects = build(home, url, args.assets, args.consent_share)
            print(f"catalog built in {time.perf_counter() - t:.1f} s")
            # every impact before any run start: each run started reads dataset:faces, so runs started
            # first would grow every later impact answer (the catalog itself has 3 runs, 3 models)
            impact_label, run_label = "GET impact by subject", "gated run start"
            direct = in_process(home, url, token, subjects, args.seconds, impact_label)
            port = free_port()
            here = str(Path(__file__).resolve().parent)
            env = {
                **os.environ,
                "DISGORGE_TOKEN_CACHE_SECONDS": "3600",
                "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
            }
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(home), url, str(port), str(args.workers)], env=env
            )
            base = f"http://127.0.0.1:{port}"
            _wait(base, proc)
            import httpx

            httpx.get(
                f"{base}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
            ).raise_for_status()
            cases = [
                ("constant route (baseline)", "GET", "/bench/constant", None),
                (
                    "GET impact by subject",
                    "GET",
                    lambda k, n: (
                        f"/api/v1/impact?kind=subject&value={subjects[(k * 7919 + n) % len(subjects)]}"
                    ),
                    None,
                ),
                (
                    "gated run start",
                    "POST",
                    "/api/v1/runs",
                    lambda k, n: {
                        "name": f"r{k}-{n}",
                        "use": "essential.service",
                        "party": "site",
                        "inputs": ["dataset:faces"],
                    },
                ),
            ]
            rows, base_rps, base_p99 = [], 0.0, 0.0
            for label, method, path, body in cases:
                if label == run_label:
                    direct.update(in_process(home, url, token, subjects, args.seconds, run_label))
                if args.load == "wrk":
                    paths = (
                        [path(0, n) for n in range(min(len(subjects), 20_000))] if callable(path) else [path]
                    )
                    bodies = [json.dumps(body(0, 0)).replace('"r0-0"', '"w%d-%d"')] if callable(body) else []
                    steady(base, token, method, paths, bodies, args.clients)
                    rps, p50, p99, errors, _ = load_wrk(
                        base, token, method, paths, bodies, args.clients, args.seconds
                    )
                else:
                    load(base, token, method, path, body, 1, min(1.0, args.seconds))  # warm up
                    rps, p50, p99, errors = load(base, token, method, path, body, args.clients, args.seconds)
                if not base_rps:
                    base_rps, base_p99 = rps, p99
                rows.append(
                    (
                        label,
                        f"{rps:,.0f}",
                        f"{p50:.1f}",
                        f"{p99:.1f}",
                        f"{rps / base_rps:.2f}",
                        f"{p99 / base_p99:.1f}",
                        errors,
                    )
                )
            for label, (rps, p50, p99, note) in direct.items():
                rows.append(
                    (
                        f"{label}, facade in-process (no HTTP, 1 thread; {note})",
                        f"{rps:,.0f}",
                        f"{p50:.1f}",
                        f"{p99:.1f}",
                        "",
                        "",
                        "",
                    )
                )
            print(
                table(
                    [
                        "endpoint",
                        "req/s",
                        "p50 ms",
                        "p99 ms",
                        "req/s vs constant",
                        "p99 vs constant",
                        "non-200",
                    ],
                    rows,
                )
            )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
            if ctx:
                ctx.__exit__(None, None, None)


def steady(base: str, token: str, method: str, paths: list[str], bodies: list[str], clients: int) -> None:
    """Warm-up rounds of 2 s on every connection until two in a row agree within 10% with no error (at
    most 20): what is measured is the server in its steady state, every worker's caches built."""
    prev = None
    for _ in range(20):
        rps, _, _, errors, _ = load_wrk(base, token, method, paths, bodies, clients, 2.0)
        if prev is not None and not errors and abs(rps - prev) <= 0.1 * max(rps, prev):
            return
        prev = rps


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited {proc.returncode}")
        try:
            httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise SystemExit("the server did not come up in 60 s")
    # then until the caches each worker builds as it starts are warm: 8 answers in a row say so, each
    # on a new connection (the kernel hands connections to the workers)
    deadline, warm = time.monotonic() + 300, 0
    while warm < 8:
        if time.monotonic() > deadline:
            raise SystemExit("the server's caches were not warm after 300 s")
        warm = warm + 1 if httpx.get(f"{base}/healthz", timeout=5).json().get("caches") == "warm" else 0
        time.sleep(0.05)


if __name__ == "__main__":
    main()
