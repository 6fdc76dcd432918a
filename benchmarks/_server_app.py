"""The server app of ``bench_server.py`` with ``--workers``: each worker's Disgorge app plus a route that
returns a constant (the stack's own limit), imported by uvicorn in every worker process."""

from __future__ import annotations

from fastapi import FastAPI

from disgorge.server import workers


def app() -> FastAPI:
    built = workers.app()

    @built.get("/bench/constant")
    def constant() -> dict[str, int]:
        return {"ok": 1}

    return built
