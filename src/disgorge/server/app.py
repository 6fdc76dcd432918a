"""The application factory: one catalog, per-request principals, JSON errors, operations routes."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from disgorge import __version__
from disgorge.access.tokens import TokenService
from disgorge.api import Catalog
from disgorge.server import errors, ops, web
from disgorge.server.routes import (
    admin,
    client,
    consent,
    core,
    datasets,
    erasures,
    jobs,
    ledger,
    lineage,
    lookup,
    models,
    runs,
    sources,
)

Span = Callable[[FastAPI], AbstractAsyncContextManager[None]]

FIRST = (lineage, runs, core)
"""Starlette tries routes in order, a few microseconds each (0.36 ms to reach the OpenLineage route when
it came eleventh): what producers and training jobs call in volume comes first. None of their paths may
match another router's (tests/server/test_routing.py)."""
ROUTERS = (*FIRST, client, sources, datasets, models, consent, erasures, jobs, ledger, lookup, admin)


def _both(first: Span, second: Span) -> Span:
    @asynccontextmanager
    async def span(app: FastAPI) -> AsyncIterator[None]:
        async with first(app), second(app):
            yield

    return span


log = logging.getLogger("disgorge.server")


def _warming(catalog: Catalog, freeze: bool) -> Span:
    """The caches the first requests would build while their clients wait (``Catalog.warm``) are
    built in the background as the server starts; ``DISGORGE_SERVE_WARM=0`` leaves them to requests.
    ``freeze``: the process is the server's own (``disgorge serve``), so what is alive once warm is
    frozen out of the collector's sight; an app embedded in another process leaves its heap alone."""

    @asynccontextmanager
    async def span(app: FastAPI) -> AsyncIterator[None]:
        thread, app.state.warmed = None, threading.Event()
        if os.environ.get("DISGORGE_SERVE_WARM", "1") != "0":
            thread = threading.Thread(
                target=_warm, args=(catalog, app.state.warmed, freeze), name="disgorge-warm", daemon=True
            )
            thread.start()
        else:
            app.state.warmed.set()
        yield
        if thread is not None:
            thread.join(10)  # the catalog closes after the server stops: not under a running warm-up

    return span


def _warm(catalog: Catalog, done: threading.Event, freeze: bool) -> None:
    t = time.perf_counter()
    try:
        checked = catalog.warm()
        # what is alive now lives as long as the server: out of the collector's sight, a full
        # collection no longer walks it (82 ms at 3M assets, a pause every request in flight waited)
        if freeze:
            gc.collect()
            gc.freeze()
    except Exception:  # never the server's problem: requests build what is missing as they come
        log.warning("warming the caches failed; requests build them as they come", exc_info=True)
        return
    finally:
        done.set()
    log.info("caches warmed in %.1f s (%d gate checks)", time.perf_counter() - t, checked)


def create_app(
    catalog: Catalog,
    *,
    jobs_url: str | None = None,
    job_workers: int = 1,
    workers: int = 1,
    acks: str | None = None,
    freeze: bool = False,
) -> FastAPI:
    """The server's app over an open catalog (which the caller closes after the server stops).

    Jobs queue in the catalog's database (SQLite in the home, or its PostgreSQL), or on Redis with
    ``jobs_url``; ``job_workers`` threads run them in this process (0: separate ``disgorge worker``).
    ``workers``, ``acks``: this app is one of several server processes (``server/workers.py``)."""
    app = FastAPI(
        title="Disgorge",
        version=__version__,
        summary="Provenance, consent enforcement, lineage and provable erasure for ML training data",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_both(
            _both(lineage.folding(catalog, acks), jobs.lifespan(catalog, jobs_url, job_workers)),
            _warming(catalog, freeze),
        ),
    )
    app.state.catalog = catalog
    app.state.tokens = TokenService(catalog.store)
    errors.install(app)
    ops.install(app)
    app.state.lookup_bucket = lookup.bucket_from_env(workers)
    for part in ROUTERS:
        app.include_router(part.router)
    web.install(app)
    return app
