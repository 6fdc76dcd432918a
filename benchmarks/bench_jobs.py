"""Job overhead (issue 11, item 4): how long a job that does nothing takes from being recorded to being
finished, through the queue and a worker thread, on each queue (SQLite in the home, the catalog's
PostgreSQL, Redis), side by side with the same job run in the caller's thread by the same runner (claim,
lease heartbeat thread, finish: the job layer's own floor, without the queue). One job at a time, so the
latency is the queue's wake-up plus the catalog's writes, not throughput.

    python benchmarks/bench_jobs.py            # 100 jobs per queue
    python benchmarks/bench_jobs.py --quick    # 20
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[0]))

import disgorge
from _common import PG_ADMIN, machine, median, pct, table
from disgorge.jobs import JOB_KINDS, Queue, Runner
from disgorge.jobs.runner import Kind, Progress
from disgorge.trust import Identity


def _noop(cat: disgorge.Catalog, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return {}


KINDS = {**JOB_KINDS, "bench.noop": Kind("read", lambda c, b: b, _noop, _noop)}


def _wait(cat: disgorge.Catalog, job_id: str) -> None:
    while cat.store.jobs.get(job_id).status != "done":
        time.sleep(0.002)


def measure(cat: disgorge.Catalog, url: str | None, n: int) -> tuple[list[float], list[float]]:
    runner = Runner(cat, KINDS)
    direct, queued = [], []
    for i in range(n):
        row = cat.store.jobs.add(f"d{i:015d}", "bench.noop", cat.principal.name, {})
        t = time.perf_counter()
        runner.run(row.id)
        direct.append(time.perf_counter() - t)
    queue = Queue(cat, url, runner)
    queue.start(1)
    try:
        for i in range(n):
            t = time.perf_counter()
            row = cat.store.jobs.add(f"q{i:015d}", "bench.noop", cat.principal.name, {})
            queue.enqueue(row.id)
            _wait(cat, row.id)
            queued.append(time.perf_counter() - t)
    finally:
        queue.stop()
    return direct, queued


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 20 if ap.parse_args().quick else 100
    me = Identity.generate("bench")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        import psycopg

        dbs = [f"dg_bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for db in dbs:
                conn.execute(f'CREATE DATABASE "{db}"')
        pg = [f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}" for db in dbs]
        setups: list[tuple[str, str | None, str | None]] = [
            ("SQLite in the home", None, None),
            ("the catalog's PostgreSQL", pg[0], None),
        ]
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
            setups.append(("Redis (catalog on PostgreSQL)", pg[1], "redis://127.0.0.1:6379/0"))
        except OSError:
            print("Redis is not running on 127.0.0.1:6379: its row is left out")
        try:
            for n_, (name, catalog_url, queue_url) in enumerate(setups):
                home = Path(tmp) / f"home{n_}"
                with disgorge.open(home, catalog_url=catalog_url, identity=me) as cat:
                    cat.init()
                    direct, queued = measure(cat, queue_url, n)
                    if queue_url:
                        with Queue(cat, queue_url) as q:
                            q.huey.flush()
                rows.append(
                    [
                        name,
                        f"{median(direct) * 1000:.1f}",
                        f"{median(queued) * 1000:.1f}",
                        f"{pct(queued, 99) * 1000:.1f}",
                        f"{median(queued) / median(direct):.2f}",
                    ]
                )
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                for db in dbs:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(f"machine: {machine()}; shared with other agents' work, so absolute numbers are loaded ones")
    print(f"{n} no-op jobs per queue, one at a time")
    print(
        table(
            ["queue", "in the caller's thread p50 ms", "through the queue p50 ms", "p99 ms", "ratio p50"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
