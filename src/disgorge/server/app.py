"""The application factory: one catalog, per-request principals, JSON errors, operations routes."""

from __future__ import annotations

from fastapi import FastAPI

from disgorge import __version__
from disgorge.access.tokens import TokenService
from disgorge.api import Catalog
from disgorge.server import errors, ops, web
from disgorge.server.routes import core


def create_app(catalog: Catalog) -> FastAPI:
    """The server's app over an open catalog (which the caller closes after the server stops)."""
    app = FastAPI(
        title="Disgorge",
        version=__version__,
        summary="Provenance, consent enforcement, lineage and provable erasure for ML training data",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.catalog = catalog
    app.state.tokens = TokenService(catalog.store)
    errors.install(app)
    ops.install(app)
    app.include_router(core.router)
    web.install(app)
    return app
