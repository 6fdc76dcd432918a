"""Operations: one structured log line per request, Prometheus metrics, and ``/healthz``.

The access log is JSON on the ``disgorge.server.access`` logger: principal, method, endpoint (the route
template, so no subject id or path ever lands in the log), status and milliseconds."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("disgorge.server.access")


class Observe:
    """Pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "disgorge_http_requests", "HTTP requests", ["method", "endpoint", "status"], registry=registry
        )
        self.seconds = Histogram(
            "disgorge_http_request_seconds",
            "HTTP request time",
            ["method", "endpoint"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "?")
            self.requests.labels(method, endpoint, str(status)).inc()
            self.seconds.labels(method, endpoint).observe(elapsed)
            if access.isEnabledFor(logging.INFO):
                state: dict[str, Any] = scope.get("state") or {}
                line = {
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "principal": state.get("principal"),
                    "method": method,
                    "endpoint": endpoint,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                }
                access.info(json.dumps(line, separators=(",", ":")))


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    app.add_middleware(Observe, registry=registry)

    @app.get("/healthz", tags=["operations"], summary="Liveness and catalog reachability")
    def healthz(request: Request) -> dict[str, str]:
        """``caches``: ``warming`` while the caches built at start are still being built (requests are
        answered meanwhile, the first of them more slowly), then ``warm``."""
        request.app.state.catalog.store.ping()
        warmed = getattr(request.app.state, "warmed", None)
        return {"status": "ok", "caches": "warming" if warmed is not None and not warmed.is_set() else "warm"}

    shown = registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: every one's counts, summed
        from prometheus_client import multiprocess

        shown = CollectorRegistry()
        multiprocess.MultiProcessCollector(shown)  # type: ignore[no-untyped-call]

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(shown), media_type=CONTENT_TYPE_LATEST)


def log_to_stderr() -> None:
    """The access log (one JSON line per request), warnings and job progress on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name, level in (
        ("disgorge.server.access", logging.INFO),
        ("disgorge.server", logging.WARNING),
        ("disgorge.jobs", logging.INFO),
    ):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
