"""What the command line asks through a server beyond the dashboard's routes: the tokens of the
caller, and ``disgorge lookup``'s full answer for a member of the roster (the public lookup, for
people without a token, answers less)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from disgorge.server.deps import API, Cat, requires
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
