"""``disgorge serve --workers N``: N server processes on one listening socket, as uvicorn runs them.

One Python process answers on one core at most (the interpreter lock): on two cores a second worker
nearly doubles what the server answers (docs/benchmarks.md, "Capture", session 5). Each worker is
spawned afresh by uvicorn's supervisor, which restarts a worker that dies; it opens the catalog itself
(:func:`app`, configured through the environment the supervisor hands down) and has its own caches,
each checked against the catalog's stamps as any second process's are. What the workers must share:

- acknowledged OpenLineage events: an event one worker answered 201 is folded before a read on any
  worker, through one append-only file whose size counts acknowledgments (``capture/pending.py``);
- metrics: Prometheus' multiprocess mode sums the workers' counters on every ``/metrics``;
- the data subjects' lookup limit: each worker allows its share of the configured rate, so the total
  never exceeds it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

HOME = "DISGORGE_SERVE_HOME"
CATALOG = "DISGORGE_SERVE_CATALOG"
JOBS = "DISGORGE_SERVE_JOBS"
JOB_WORKERS = "DISGORGE_SERVE_JOB_WORKERS"
WORKERS = "DISGORGE_SERVE_WORKERS"
ACKS = "DISGORGE_SERVE_ACKS"
LOG = "DISGORGE_SERVE_LOG"
PROMETHEUS = "PROMETHEUS_MULTIPROC_DIR"


def app() -> FastAPI:
    """The app of one worker (uvicorn's factory): the catalog opened from the supervisor's settings,
    closed when the worker stops."""
    from disgorge.api import open as open_catalog
    from disgorge.server import create_app
    from disgorge.server.ops import log_to_stderr

    if os.environ.get(LOG) == "1":
        log_to_stderr()
    catalog = open_catalog(os.environ[HOME], catalog_url=os.environ[CATALOG], identity=False)
    jobs = os.environ.get(JOBS) or None
    built = create_app(
        catalog,
        jobs_url=jobs,
        job_workers=int(os.environ.get(JOB_WORKERS, "1")),
        workers=int(os.environ.get(WORKERS, "1")),
        acks=os.environ.get(ACKS),
        freeze=True,
    )
    inner = built.router.lifespan_context

    @asynccontextmanager
    async def span(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(a):
                yield
        finally:
            catalog.close()

    built.router.lifespan_context = span
    return built


def run(
    config: dict[str, Any],
    sock: socket.socket,
    *,
    home: Path,
    catalog_url: str,
    jobs: str | None,
    job_workers: int,
    workers: int,
    factory: str = "disgorge.server.workers:app",
    log: bool = True,
) -> None:
    """Serve with ``workers`` processes on ``sock`` until SIGTERM or SIGINT, then stop them gracefully.
    ``factory``: the import path of the function that builds each worker's app; ``log``: each worker
    writes the access log to stderr, as ``disgorge serve`` does."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    shared = Path(tempfile.mkdtemp(prefix="disgorge-serve-"))
    try:
        (shared / "metrics").mkdir()
        (shared / "acks").touch()
        os.environ.update(
            {
                HOME: str(home),
                CATALOG: catalog_url,
                JOBS: jobs or "",
                JOB_WORKERS: str(job_workers),
                WORKERS: str(workers),
                ACKS: str(shared / "acks"),
                PROMETHEUS: str(shared / "metrics"),
                LOG: "1" if log else "0",
            }
        )
        cfg = uvicorn.Config(factory, factory=True, workers=workers, **config)
        Multiprocess(cfg, sockets=[sock]).run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
