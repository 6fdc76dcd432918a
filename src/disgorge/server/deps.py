"""Request dependencies: who is asking (their bearer token) and the catalog acting for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from disgorge.api import Catalog
from disgorge.catalog.store import ACTOR
from disgorge.errors import Unauthenticated
from disgorge.model.roles import Principal

API = "/api/v1"
"""Every REST route's prefix: each router is made with it, so metrics and logs see whole templates."""

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
    who: Principal = await run_in_threadpool(request.app.state.tokens.authenticate, creds.credentials)
    request.state.principal = who.name
    ACTOR.set(who.name)
    return who


async def catalog(request: Request, who: Annotated[Principal, Depends(principal)]) -> Catalog:
    base: Catalog = request.app.state.catalog
    return base.acting_as(who)


Who = Annotated[Principal, Depends(principal)]
Cat = Annotated[Catalog, Depends(catalog)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[str | None, Query(description="The `next` of the previous page.")]
