"""What the command line asks through a server beyond the dashboard's routes: the tokens of the
caller, ``disgorge lookup``'s full answer for a member of the roster (the public lookup, for
people without a token, answers less), and ``disgorge coverage``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from disgorge.access.tokens import TokenService
from disgorge.server.deps import API, Cat, Who, requires
from disgorge.server.routes.consent import _body
from disgorge.server.routes.lookup import MAX_PHOTO_BYTES

router = APIRouter(prefix=API)


class TokenOut(BaseModel):
    id: str
    principal: str
    name: str
    created_by: str
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None


class PhotoLookupOut(BaseModel):
    """``disgorge lookup --json``: the datasets and models this photo, or a near copy, went into."""

    photo: str
    answered: bool
    reason: str
    found: bool
    matches: list[dict[str, Any]]


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    tags=["tokens"],
    summary="Your API tokens (an admin sees everyone's); never their secrets",
    dependencies=[requires("read")],
)
def tokens(cat: Cat) -> list[dict[str, Any]]:
    return [t.to_json() for t in cat.tokens()]


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for.")
    expires: str = Field("90d", min_length=1, max_length=40, description="30d, 12h, 2w, a date or never.")
    principal: str | None = Field(None, min_length=1, max_length=200, description="Default: you.")


class IssuedOut(TokenOut):
    token: str = Field(description="The secret: shown only in this answer, stored hashed.")


@router.post(
    "/tokens",
    response_model=IssuedOut,
    tags=["tokens"],
    summary="Issue an API token (admins only through the server); its secret is shown only here",
    dependencies=[requires("token.issue")],
)
def issue_token(request: Request, who: Who, body: TokenIn) -> dict[str, Any]:
    tokens: TokenService = request.app.state.tokens
    row, secret = tokens.issue(who, body.name, principal=body.principal, expires=body.expires)
    return {**row.to_json(), "token": secret}


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenOut,
    tags=["tokens"],
    summary="Revoke a token (yours; an admin's: anyone's); this server refuses it at once",
    dependencies=[requires("read")],
)
def revoke_token(request: Request, who: Who, token_id: str) -> dict[str, Any]:
    tokens: TokenService = request.app.state.tokens
    return tokens.revoke(who, token_id).to_json()


@router.post(
    "/photos/lookup",
    response_model=PhotoLookupOut,
    tags=["scan"],
    summary="Which datasets and models a photo (or a near copy) went into (the body is the photo)",
    dependencies=[requires("read")],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def photo_lookup(
    request: Request, cat: Cat, photo: str = Query("upload", min_length=1, max_length=1000)
) -> dict[str, Any]:
    data = await _body(request, MAX_PHOTO_BYTES)
    found = await run_in_threadpool(cat.lookup_bytes, data, photo)
    return found.to_json()


class CoverageOut(BaseModel):
    """``disgorge coverage --json``: how much of what happened the catalog saw."""

    since: str | None
    until: str | None
    producers: list[dict[str, Any]]
    runs: int
    inputs: dict[str, int]
    models: dict[str, Any]
    events: dict[str, Any] = Field(
        description="OpenLineage events stored but not folded in: waiting, failed, and the failures"
    )


@router.get(
    "/coverage",
    response_model=CoverageOut,
    tags=["lineage"],
    summary="Runs per producer, inputs resolved vs unknown, models with and without a training run",
    dependencies=[requires("read")],
)
def coverage(
    cat: Cat,
    since: AwareDatetime | None = Query(None, description="Runs started at or after this time."),
    until: AwareDatetime | None = Query(None, description="Runs started before this time."),
) -> dict[str, Any]:
    from disgorge.capture.coverage import coverage

    return coverage(cat.store, cat.principal, since=since, until=until)
