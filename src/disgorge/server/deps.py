"""Request dependencies: who is asking (their bearer token) and the catalog acting for them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from disgorge.access import require
from disgorge.api import Catalog
from disgorge.catalog.store import ACTOR
from disgorge.errors import Unauthenticated
from disgorge.model.roles import ACTIONS, Principal

API = "/api/v1"
"""Every REST route's prefix: each router is made with it, so metrics and logs see whole templates."""
LINEAGE_WRITES = f"{API}/lineage"

_bearer = HTTPBearer(auto_error=False, description="An API token: disgorge token create")


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The roster member the request's token acts as (HTTP 401 without a valid one).

    Async so that the actor it sets is seen by the endpoint; argon2 runs off the event loop."""
    if creds is None:
        raise Unauthenticated(
            "this endpoint needs an API token",
            hint="send Authorization: Bearer TOKEN (disgorge token create --name NAME)",
        )
    tokens = request.app.state.tokens
    hit: Principal | None = tokens.cached(creds.credentials)  # a cache hit needs no worker thread
    who: Principal = (
        hit if hit is not None else await run_in_threadpool(tokens.authenticate, creds.credentials)
    )
    request.state.principal = who.name
    ACTOR.set(who.name)
    return who


async def catalog(request: Request, who: Annotated[Principal, Depends(principal)]) -> Catalog:
    base: Catalog = request.app.state.catalog
    await settled(request)
    return base.acting_as(who)


async def settled(request: Request) -> None:
    """Every OpenLineage event this server acknowledged is in the catalog before another request reads
    it (a producer's posts are not folded while it waits for each answer: see ``capture/pending.py``)."""
    folder = getattr(request.app.state, "folder", None)
    if folder is not None and folder.behind() and not request.url.path.startswith(LINEAGE_WRITES):
        await run_in_threadpool(folder.settle)


class Requires:
    """A route's action from ``model/roles.py``: refuses (403) a token whose roles do not allow it, before
    the request body is even looked at. The authorisation-matrix test reads ``action`` off each route."""

    def __init__(self, action: str) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        self.action = action

    async def __call__(self, who: Annotated[Principal, Depends(principal)]) -> None:
        require(who, self.action)


class Public:
    """Marks a route that needs no token (the data subjects' lookup); the matrix test reads it."""

    action = "public"

    async def __call__(self) -> None:
        return None


def requires(action: str) -> Any:
    """``dependencies=[requires("erase.plan")]`` on a route: the action it performs."""
    return Depends(Requires(action))


PUBLIC: Any = Depends(Public())

Who = Annotated[Principal, Depends(principal)]
Cat = Annotated[Catalog, Depends(catalog)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[str | None, Query(description="The `next` of the previous page.")]
