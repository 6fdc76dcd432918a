"""Capture throughput (issue 12): OpenLineage ingestion through a real ``disgorge serve`` (batch endpoint,
and one event per request) against the same server's bare route (``/healthz``) in the same run, and the
MLflow ``disgorge+`` store plugin against the plain SQLite store, side by side (``create_run`` +
``log_inputs`` of a disgorge dataset). Own data: generated photos and events. Ratios are printed.

    python benchmarks/bench_capture.py            # 5,000 events, 200 MLflow runs
    python benchmarks/bench_capture.py --quick    # 1,000 events, 40 MLflow runs
    python benchmarks/bench_capture.py --mlflow-only --mlflow-runs 400
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[0]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine

DISGORGE = str(Path(sys.executable).parent / "disgorge")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(n: int, photos: Path) -> list[dict]:
    from tests.capture.events import airflow_task, ds

    out = []
    for k in range(n // 2):
        rid = str(uuid.UUID(int=k + 1))
        inp = [ds("file", str(photos / f"s{k % 4}"))]
        out.append(airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=inp, outputs=[]))
        out.append(
            airflow_task(
                rid, "COMPLETE", time="2026-12-01T10:05:00Z", inputs=[], outputs=[ds("file", f"/m/{k}.pt")]
            )
        )
    return out


def _home(root: Path, photos: Path) -> tuple[Path, str]:
    import disgorge
    from disgorge.access.tokens import TokenService
    from disgorge.ingest import IngestOptions
    from disgorge.trust import Identity

    ident = Identity.generate("ann")
    with disgorge.open(root / "home", identity=ident) as cat:
        cat.init()
        cat.add_source(
            "site",
            notice=b"ops",
            uses=["essential.service"],
            recipients=["site"],
            categories=["user.content.self_image"],
        )
        cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        cat.create_dataset("faces", source="site")
        cat.add_source(
            "ok",
            notice=b"train",
            uses=["train_ai_system"],
            recipients=["acme"],
            categories=["user.content.self_image"],
        )
        _, token = TokenService(cat.store).issue(cat.principal, "bench")
    return root / "home", token


def bench_server(
    root: Path, n: int, photos: Path, clients: int = 4, seconds: float = 5.0
) -> list[tuple[str, float]]:
    import httpx

    home, token = _home(root, photos)
    port = _port()
    env = {**os.environ, "DISGORGE_HOME": str(home)}
    env.pop("DISGORGE_CATALOG", None)
    proc = subprocess.Popen(
        [DISGORGE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        events = _events(n, photos)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            t = time.perf_counter()
            for _ in range(n // 5):
                c.get("/healthz")
            bare = (n // 5) / (time.perf_counter() - t)
            single, now = events[: n // 5], events[n // 5 : n // 5 + n // 10]
            t = time.perf_counter()
            for ev in single:
                r = c.post("/api/v1/lineage", content=json.dumps(ev).encode())
                assert r.status_code == 201, r.text
            acked = len(single) / (time.perf_counter() - t)
            # the clock stops when a reader sees the last one folded (it waits for the folder)
            last = c.get(f"/api/v1/runs/{single[-1]['run']['runId']}")
            assert last.status_code == 200, last.text
            one = len(single) / (time.perf_counter() - t)
            t = time.perf_counter()
            for ev in now:
                r = c.post("/api/v1/lineage?fold=now", content=json.dumps(ev).encode())
                assert r.status_code == 201, r.text
                assert "pending" not in r.json(), r.text
            folded_now = len(now) / (time.perf_counter() - t)
            rest = events[n // 5 + n // 10 :]
            t = time.perf_counter()
            for i in range(0, len(rest), 500):
                body = gzip.compress(json.dumps(rest[i : i + 500]).encode(), compresslevel=3)
                r = c.post("/api/v1/lineage/batch", content=body, headers={"Content-Encoding": "gzip"})
                assert r.status_code == 200, r.text
                assert r.json()["refused"] == 0, r.text
            batch = len(rest) / (time.perf_counter() - t)
            concurrent = _concurrent(url, token, photos, c, single[-1]["run"]["runId"], clients, seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [
        ("bare route /healthz (req/s)", bare),
        ("one event per request, until folded (events/s)", one),
        ("  of which acknowledged (events/s)", acked),
        ("one event per request, ?fold=now (events/s)", folded_now),
        ("batch of 500, gzip (events/s)", batch),
        *concurrent,
    ]


def _concurrent(
    url: str, token: str, photos: Path, c: object, known_run: str, clients: int, seconds: float
) -> list[tuple[str, float]]:
    """One event per request from ``clients`` producers at once (wrk, a second process): what the
    server takes when several pipelines post, against the bare route under the same load. Every
    request is its own run's START or COMPLETE; the clock stops when a reader sees them all folded."""
    import httpx

    from _common import WRK, load_wrk

    if WRK is None or clients < 2:
        return []
    placeholder = "00000000-0000-4000-8000-000000000000"
    pair = _events(2, photos)
    for ev in pair:
        ev["run"]["runId"] = placeholder
    bodies = [
        json.dumps(ev)
        .replace("%", "%%")
        .replace(placeholder, "%08x-0000-4000-8000-%012x")
        .replace("/m/0.pt", "/m/%d-%d.pt")
        for ev in pair
    ]
    bare, _, _, _, _ = load_wrk(url, token, "GET", ["/healthz"], [], clients, seconds)
    t = time.perf_counter()
    acked, _, p99, bad, n = load_wrk(url, token, "POST", ["/api/v1/lineage"], bodies, clients, seconds)
    assert bad == 0, f"{bad} of {n} events refused"
    assert isinstance(c, httpx.Client)
    c.get(f"/api/v1/runs/{known_run}").raise_for_status()  # waits until every acknowledged event is folded
    folded = n / (time.perf_counter() - t)
    return [
        (f"bare route /healthz, {clients} connections (req/s)", bare),
        (f"one event per request, {clients} producers, until folded (events/s)", folded),
        (f"  of which acknowledged (events/s; p99 {p99:.1f} ms)", acked),
    ]


def bench_mlflow(root: Path, runs: int) -> tuple[float, float, float, float, float, float]:
    """Median latency of create_run + log_inputs, plain and plugin; the plugin's total time per run
    including the writes its background recorder finishes by the end (the total minus the plain calls,
    per run), beside the plain calls' mean; and the ratio of alternating blocks of 10 runs, each plugin
    block timed up to the end of its writes (flushed), so none of its background work lands on the
    plain calls' clock (wall and process CPU time; CPU time moves far less with the machine's load)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from disgorge.integrations.mlflow import disgorge_dataset

    os.environ["DISGORGE_HOME"] = str(root / "home")
    ok = disgorge_dataset("faces")  # allowed: the notice permits essential.service by the site
    tags = {"disgorge.use": "essential.service", "disgorge.party": "site"}
    times: dict[str, list[float]] = {"plain": [], "plugin": []}
    clients = {
        "plain": MlflowClient(f"sqlite:///{root / 'plain.db'}"),
        "plugin": MlflowClient(f"disgorge+sqlite:///{root / 'wrapped.db'}"),
    }
    for c in clients.values():  # warm both: schema creation, caches
        r = c.create_run("0", tags=tags)
        c.log_inputs(r.info.run_id, [mlflow.entities.DatasetInput(ok._to_mlflow_entity())])
    plugin_store = clients["plugin"]._tracking_client.store
    plugin_store.flush()
    t0 = time.perf_counter()
    for _ in range(runs):
        for kind, c in clients.items():  # interleaved, so the machine's load weighs on both alike
            t = time.perf_counter()
            r = c.create_run("0", tags=tags)
            c.log_inputs(r.info.run_id, [mlflow.entities.DatasetInput(ok._to_mlflow_entity())])
            times[kind].append(time.perf_counter() - t)
    plugin_store.flush()  # the background writer's catalog work, counted in the total
    total = time.perf_counter() - t0
    with_writes = (total - sum(times["plain"])) / runs
    blocks: dict[str, float] = {"plain": 0.0, "plugin": 0.0}
    cpu: dict[str, float] = {"plain": 0.0, "plugin": 0.0}
    for _ in range(max(1, runs // 10)):
        for kind, c in clients.items():
            t, p = time.perf_counter(), time.process_time()  # process: the writer thread's CPU too
            for _ in range(10):
                r = c.create_run("0", tags=tags)
                c.log_inputs(r.info.run_id, [mlflow.entities.DatasetInput(ok._to_mlflow_entity())])
            if kind == "plugin":
                plugin_store.flush()
            blocks[kind] += time.perf_counter() - t
            cpu[kind] += time.process_time() - p
    return (
        statistics.median(times["plain"]),
        statistics.median(times["plugin"]),
        with_writes,
        statistics.mean(times["plain"]),
        blocks["plugin"] / blocks["plain"],
        cpu["plugin"] / cpu["plain"],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mlflow-only", action="store_true", help="skip the OpenLineage server part")
    ap.add_argument("--mlflow-runs", type=int, help="MLflow runs (default: 40 quick, 200 full)")
    ap.add_argument(
        "--clients", type=int, default=4, help="producers posting at once with wrk (0: skip; needs wrk)"
    )
    ap.add_argument("--seconds", type=float, help="seconds of concurrent posting (default: 2 quick, 5 full)")
    args = ap.parse_args()
    n, runs = (1000, 40) if args.quick else (5000, 200)
    runs = args.mlflow_runs or runs
    from tests.conftest import write_photo

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = root / "photos"
        for k in range(40):
            write_photo(photos / f"s{k % 4}" / f"p{k}.jpg", f"s{k % 4}", k)
        if args.mlflow_only:
            _home(root, photos)
        else:
            seconds = args.seconds or (2.0 if args.quick else 5.0)
            rows = bench_server(root, n, photos, args.clients, seconds)
            bare = rows[0][1]
            print(f"\nOpenLineage through disgorge serve ({n} events):")
            for label, rate in rows:
                if label.startswith("bare route /healthz,"):
                    bare = rate  # the concurrent rows are read against the bare route under that load
                print(f"  {label:62s} {rate:9.0f}   ratio to bare route {rate / bare:5.3f}")
        plain, plugin, with_writes, plain_mean, blocks, cpu = bench_mlflow(root, runs)
        print(f"\nMLflow create_run + log_inputs, median of {runs} (interleaved):")
        print(f"  plain sqlite store      {plain * 1000:7.1f} ms")
        print(
            f"  disgorge+sqlite plugin  {plugin * 1000:7.1f} ms   ratio {plugin / plain:5.2f} (+{(plugin / plain - 1) * 100:.0f}%)"
        )
        print(
            f"  mean per run: plain {plain_mean * 1000:.1f} ms, plugin with its background catalog writes "
            f"(flushed at the end) {with_writes * 1000:.1f} ms, ratio {with_writes / plain_mean:5.2f}"
        )
        print(
            f"  alternating blocks of 10 runs, plugin blocks flushed: wall ratio {blocks:5.2f}, "
            f"CPU ratio {cpu:5.2f}"
        )


if __name__ == "__main__":
    main()
