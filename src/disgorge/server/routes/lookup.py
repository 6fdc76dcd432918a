"""The data subjects' question, without an account: "was this photo of me used?".

``POST /api/v1/lookup`` takes the photo's bytes, needs no token, and is rate-limited per client
address (a token bucket in this process; 429 beyond it). It answers only used / not used and the kinds
of use of near copies of *that* photo: no dataset or model names, no subject, path, distance or count,
so a photo of anyone else tells nothing about them beyond what the person sending it already has."""

from __future__ import annotations

import os
import threading
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from disgorge.api import Catalog
from disgorge.errors import RateLimited
from disgorge.server.deps import API, PUBLIC
from disgorge.server.routes.consent import _body

router = APIRouter(prefix=API, tags=["data subjects"])

MAX_PHOTO_BYTES = 25 * 1024 * 1024


class LookupOut(BaseModel):
    answered: bool = Field(description="False when the photo is too blank or small to match reliably.")
    used: bool = Field(description="Whether this photo, or a near copy of it, is in the catalog.")
    kinds: list[str] = Field(
        description="stored, dataset, model_training, deployed_model, shared_with_recipient"
    )
    uses: list[str] = Field(description="The data uses (purposes) of the runs that read it.")
    reason: str = ""


class Bucket:
    """Per-address token buckets: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if a request may go now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._state.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._state[who] = (tokens - 1, now)
                if len(self._state) > 100_000:
                    self._state = {k: v for k, v in self._state.items() if now - v[1] < 3600}
                return 0.0
            self._state[who] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate else 3600.0


def bucket_from_env(workers: int = 1) -> Bucket:
    """The configured limit, or one worker's share of it (a client's requests may reach any worker)."""
    per_minute = float(os.environ.get("DISGORGE_LOOKUP_PER_MINUTE", "10"))
    burst = int(os.environ.get("DISGORGE_LOOKUP_BURST", "10"))
    return Bucket(per_minute / workers, max(1, burst // workers))


@router.post(
    "/lookup",
    response_model=LookupOut,
    summary="Was this photo used? (no token; rate-limited per client address)",
    dependencies=[PUBLIC],
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/webp": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {"429": {"description": "Too many lookups from this address; see Retry-After."}},
    },
)
async def lookup(request: Request) -> LookupOut:
    bucket: Bucket = request.app.state.lookup_bucket
    who = request.client.host if request.client else "unknown"
    wait = bucket.take(who)
    if wait:
        raise RateLimited(
            "too many lookups from this address",
            hint=f"try again in {max(1, round(wait))} s",
            details={"retry_after": max(1, round(wait))},
        )
    data = await _body(request, MAX_PHOTO_BYTES)
    cat: Catalog = request.app.state.catalog
    return LookupOut(**await run_in_threadpool(cat.public_lookup, data))
