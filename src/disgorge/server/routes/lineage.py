"""The OpenLineage consumer: ``POST /api/v1/lineage`` (as Marquez answers it) and ``/lineage/batch``.

openlineage-python's ``HttpTransport`` posts each event to ``{url}/api/v1/lineage`` with
``Authorization: Bearer`` and, optionally, ``Content-Encoding: gzip``; an accepted event is 201, a
refused one 400 with the reason (its client retries only 5xx, so a 400 is final). An accepted event is
stored, answered, and folded into the catalog by the server's folder up to half a second later, with the
events of other requests (``capture/pending.py``); ``?fold=now`` folds it before answering. The batch route takes a
JSON array of events and answers 200 with one result per event. Tokens need the ``engineer`` role (or
``admin``). Bodies are capped before and after decompression, so a gzip bomb costs a bounded read.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from disgorge.api import Catalog
from disgorge.capture import MAX_BATCH, EventResult, Folder, accept_event, ingest_batch, ingest_event
from disgorge.capture.openlineage import MAX_EVENT_BYTES
from disgorge.errors import InputError
from disgorge.server.deps import API, Cat, requires

router = APIRouter(prefix=API, tags=["lineage"])
MAX_BATCH_BYTES = 64 << 20


async def _body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped if it says so, refused past ``limit`` bytes either way."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise InputError(f"Content-Encoding {encoding!r} is not supported", hint="send gzip or no encoding")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise InputError(f"request body is over {limit} bytes", hint="send smaller events or batches")
    if encoding == "identity":
        return bytes(raw)
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(bytes(raw), limit + 1)
    except zlib.error as exc:
        raise InputError(f"request body is not valid gzip ({exc})", hint="compress the whole body") from exc
    if len(out) > limit or inflate.unconsumed_tail:
        raise InputError(
            f"request body inflates to over {limit} bytes", hint="send smaller events or batches"
        )
    return out


@router.post(
    "/lineage",
    status_code=201,
    summary="Record one OpenLineage RunEvent",
    dependencies=[requires("lineage.write")],
)
async def lineage(
    request: Request,
    cat: Cat,
    fold: Annotated[
        Literal["later", "now"],
        Query(
            description="``later`` (default): 201 once the event is stored, folded into the catalog "
            "within half a second (any other request sees it folded); ``now``: folded before the answer, "
            "which then says what its inputs resolved to."
        ),
    ] = "later",
) -> JSONResponse:
    body = await _body(request, MAX_EVENT_BYTES)
    if fold == "now":
        result = await run_in_threadpool(ingest_event, cat.store, cat.principal, body)
        return JSONResponse(result.to_json(), status_code=201)
    folder: Folder = request.app.state.folder
    accepted: EventResult | None = None
    if cat.store.dialect == "sqlite" and not folder.folding:
        # Storing one event is ~0.3 ms, less than the hand-over to a worker thread and back; done
        # here only when no writer holds the file, so the event loop never waits on a lock.
        accepted = accept_event(cat.store, cat.principal, body, nowait=True)
    if accepted is None:
        accepted = await run_in_threadpool(accept_event, cat.store, cat.principal, body)
    assert accepted is not None  # it waits for the catalog
    if accepted.pending:
        folder.accepted()
    return JSONResponse(accepted.to_json(), status_code=201)


def folding(
    catalog: Catalog, acks: str | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan part that runs the folder of acknowledged events (what an earlier process left
    pending first), and folds what is left when the server stops. ``acks``: the file where the
    workers of one server count what they acknowledged (``Folder``)."""

    @asynccontextmanager
    async def span(app: FastAPI) -> AsyncIterator[None]:
        folder = Folder(catalog.store, acks=acks)
        app.state.folder = folder
        folder.start()
        try:
            yield
        finally:
            await run_in_threadpool(folder.stop)

    return span


@router.post(
    "/lineage/batch",
    summary="Record OpenLineage events, one result per event",
    dependencies=[requires("lineage.write")],
)
async def lineage_batch(request: Request, cat: Cat) -> dict[str, Any]:
    body = await _body(request, MAX_BATCH_BYTES)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"batch is not JSON ({exc})", hint="send a JSON array of RunEvents") from exc
    events = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise InputError("batch is not a JSON array of events", hint="send [event, event, ...]")
    if len(events) > MAX_BATCH:
        raise InputError(f"batch has {len(events)} events, over {MAX_BATCH}", hint="send smaller batches")
    results = await run_in_threadpool(ingest_batch, cat.store, cat.principal, events)
    return {
        "results": [r.to_json() for r in results],
        "accepted": sum(r.ok for r in results),
        "refused": sum(not r.ok for r in results),
    }
