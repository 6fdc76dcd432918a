"""Consent imports (the consent system's CSV or JSON-lines export as the request body) and ``check``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from disgorge.errors import UsageError
from disgorge.server.deps import API, Cat, requires

router = APIRouter(prefix=API, tags=["consent"])

MAX_CONSENT_BYTES = 64 * 1024 * 1024
JSONL = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")


class ConsentOut(BaseModel):
    imported: int = Field(description="Consent events imported (0 when this file was imported before).")
    new_file: bool


class CheckIn(BaseModel):
    datasets: list[str] = Field(min_length=1, max_length=100, description="NAME or NAME@VERSION")
    use: str = Field(min_length=1, max_length=200)
    recipient: str = Field(min_length=1, max_length=200)
    at: AwareDatetime | None = Field(None, description="Decide as of this time (default: now).")


class CheckOut(BaseModel):
    """``disgorge check --json``: the recorded decision."""

    decision: str
    ok: bool
    use: str
    recipient: str
    at: str
    policy_version: str
    inputs: list[str]
    inputs_digest: str
    total: int
    allowed: int
    denied: int
    allowed_by: dict[str, int]
    flagged_near_erased: dict[str, int]
    violations: list[dict[str, Any]]


@router.post(
    "/consent",
    response_model=ConsentOut,
    summary="Import a consent export (CSV, or JSON lines with Content-Type application/x-ndjson)",
    dependencies=[requires("consent.import")],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_consent(
    request: Request,
    cat: Cat,
    origin: str = Query(
        "the request body", min_length=1, max_length=1000, description="The file's name, for errors."
    ),
) -> ConsentOut:
    from starlette.concurrency import run_in_threadpool

    data = await _body(request, MAX_CONSENT_BYTES)
    kind = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    count, new = await run_in_threadpool(cat.import_consent_bytes, data, origin=origin, jsonl=kind in JSONL)
    return ConsentOut(imported=count, new_file=new)


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UsageError(f"the request body is over {limit // (1024 * 1024)} MiB", hint="send less")
        chunks.append(chunk)
    if not size:
        raise UsageError("the request body is empty")
    return b"".join(chunks)


@router.post(
    "/check",
    response_model=CheckOut,
    tags=["enforcement"],
    summary="May these datasets be used for this use by this recipient? (recorded as a decision)",
    dependencies=[requires("check")],
)
def check(cat: Cat, body: CheckIn) -> dict[str, Any]:
    return cat.check(body.datasets, use=body.use, recipient=body.recipient, at=body.at).to_json()


class ReviewOut(BaseModel):
    """One run of ``disgorge check --runs --json`` whose training data is no longer covered."""

    run: dict[str, Any]
    denied: int
    total: int
    by_reason: dict[str, int]
    inputs: list[str]
    models: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]


class UnknownOut(BaseModel):
    """A captured run that read inputs the catalog cannot name."""

    uid: str
    name: str
    use: str | None
    party: str | None
    unknown: list[dict[str, Any]]


@router.get(
    "/check/runs",
    response_model=list[ReviewOut],
    tags=["enforcement"],
    summary="Every recorded run re-evaluated (now, or as of `at`): those no longer covered",
    dependencies=[requires("read")],
)
def review_runs(
    cat: Cat, at: AwareDatetime | None = Query(None, description="As of this time (default: now).")
) -> list[dict[str, Any]]:
    return [r.to_json() for r in cat.review_runs(at)]


@router.get(
    "/check/unknown-provenance",
    response_model=list[UnknownOut],
    tags=["enforcement"],
    summary="Captured runs that read inputs of unknown provenance",
    dependencies=[requires("read")],
)
def unknown_provenance(cat: Cat) -> list[dict[str, Any]]:
    return cat.unknown_provenance_runs()
