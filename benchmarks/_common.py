"""Helpers shared by the catalog, impact and ingest benchmarks: machine description, timing,
percentiles, markdown tables and scratch PostgreSQL databases. Not part of the package."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

T = TypeVar("T")

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WRK = shutil.which("wrk")

# Each wrk thread has its own Lua state: ``id`` is the thread's number, ``counter`` its requests so far.
# A request's body is ``bodies[counter % #bodies]`` formatted with (id, n, id, n), n = counter // #bodies: two
# templates make pairs (a run's START and its COMPLETE) and every request names its own run.
_WRK_SCRIPT = """
local paths, bodies, method, token = {paths}, {bodies}, "{method}", "{token}"
local counter = 0
local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local k = (id * 7919 + counter) % #paths + 1
  local body = nil
  if #bodies > 0 then
    local n = math.floor(counter / #bodies)
    body = string.format(bodies[counter % #bodies + 1], id, n, id, n)
  end
  counter = counter + 1
  return wrk.format(method, paths[k], nil, body)
end
function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("WRK %d %f %f %f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
"""


def load_wrk(
    base: str, token: str, method: str, paths: list[str], bodies: list[str], clients: int, seconds: float
) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, errors, requests) of ``wrk`` from a second process: C and epoll,
    ``clients`` keep-alive connections on at most two threads, so the load takes as little of the
    cores as it can (the server's limit, not the load generator's). Needs ``apt-get install wrk``."""
    import tempfile

    if WRK is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (or pass --load httpx)")
    lua = _WRK_SCRIPT.format(
        paths="{" + ",".join(json.dumps(p) for p in paths) + "}",
        bodies="{" + ",".join(json.dumps(b) for b in bodies) + "}",
        method=method,
        token=token,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        cmd = [WRK, "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds:g}s", "-s", f.name, base]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK "))
    n, secs, p50, p99, bad = line.split()[1:]
    return int(n) / float(secs), float(p50), float(p99), int(bad), int(n)


def machine() -> str:
    """One line naming the CPU, cores, RAM, OS, Python and the date, for the results table."""
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), model
        )
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(
            next(
                ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
            ).split()[1]
        )
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{model}, nproc {os.cpu_count()}, RAM {mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` is one char per column (l or r), default l then r."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def rss_mib() -> float:
    """Peak resident set size of this process, MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_pg(admin_dsn: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its ``postgresql+psycopg://`` URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_available(admin_dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(admin_dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False
