"""The dashboard and the data subject's page: server-rendered pages over the catalog facade.

Pages call the facade (acting for the signed-in person) directly, not the REST API; every page and
action checks the role as the API does. Installed by :func:`install` on the server's app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from disgorge.server.web import auth, erasure, explore, ledger, lookup, overview
from disgorge.server.web.limits import RateLimiter
from disgorge.server.web.session import Sessions
from disgorge.server.web.views import HERE

PAGES = (auth, overview, explore, erasure, ledger, lookup)


def install(app: FastAPI) -> None:
    app.state.web_sessions = Sessions(app.state.catalog)
    app.state.web_limiter = RateLimiter()
    app.state.web_signin_limiter = RateLimiter(per_minute=30, burst=20)
    app.state.web_jobs = {}
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in PAGES:
        app.include_router(module.router)
