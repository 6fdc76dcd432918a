"""The data subject's page: "was my photo used?" — public, rate-limited, about that photo only.

The answer lists what near copies of the uploaded photo went into (datasets, models, recipients) and
nothing else: no other subject, photo, pseudonym or metadata. The photo is hashed from a temporary file
deleted at once. A request for erasure carries the matched assets in a signed token (so a visitor cannot
file one for content they did not match) and is filed for a privacy officer."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from disgorge.errors import InputError, UsageError
from disgorge.server.web.erasure import subject_requests
from disgorge.server.web.session import check_csrf
from disgorge.server.web.views import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_PHOTO = 20 * 1024 * 1024
_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _signer(request: Request) -> URLSafeTimedSerializer:
    secret = request.app.state.web_sessions._signer.secret_key
    return URLSafeTimedSerializer(secret, salt="disgorge-subject-request")


def _answer(found: list[dict[str, Any]]) -> dict[str, Any]:
    uses: dict[str, set[str]] = {"datasets": set(), "models": set(), "recipients": set()}
    for m in found:
        for k in uses:
            uses[k].update(m.get(k) or ())
    return {k: sorted(v) for k, v in uses.items()}


@router.get("/lookup")
def lookup_page(request: Request) -> Response:
    return render(request, "lookup.html", result=None)


@router.post("/lookup")
async def lookup(request: Request) -> Response:
    form = await check_csrf(request)
    request.app.state.web_limiter.take(request, "lookup")
    upload = form.get("photo")
    if not isinstance(upload, UploadFile):
        raise UsageError("choose a photo to look up", hint="a JPEG, PNG or WebP photo")
    data = await upload.read(MAX_PHOTO + 1)
    if not data:
        raise UsageError("the photo is empty", hint="choose a JPEG, PNG or WebP photo")
    if len(data) > MAX_PHOTO:
        raise InputError("the photo is larger than 20 MB", hint="upload a smaller copy of it")
    suffix = Path(str(getattr(upload, "filename", "") or "")).suffix.lower()
    suffix = suffix if suffix in _SUFFIXES else ".img"
    cat = request.app.state.catalog

    def run() -> Any:
        from disgorge.scan import lookup as find

        with tempfile.TemporaryDirectory(prefix="disgorge-lookup-") as tmp:
            path = Path(tmp) / f"photo{suffix}"
            path.write_bytes(data)
            try:
                return find(cat.store, cat.indexes, path)
            except InputError as exc:
                raise InputError(
                    exc.message.replace(str(path), "the uploaded photo"), hint=exc.hint
                ) from None

    result = await run_in_threadpool(run)
    assets = list(result.assets)
    token = _signer(request).dumps(assets) if assets else ""
    shown = {
        "answered": result.answered,
        "reason": result.reason,
        "found": result.found,
        "exact": any(m["match"] == "exact" for m in result.matches),
        "copies": len(result.matches),
        "uses": _answer(result.matches),
    }
    return render(request, "lookup.html", result=shown, token=token)


@router.post("/lookup/request")
async def request_erasure(request: Request) -> Response:
    form = await check_csrf(request)
    request.app.state.web_limiter.take(request, "erasure request")
    try:
        assets = _signer(request).loads(str(form.get("token") or ""), max_age=3600)
    except BadSignature:
        raise UsageError(
            "this request is not from a lookup made here in the last hour", hint="look up your photo again"
        ) from None
    if not isinstance(assets, list) or not assets:
        raise UsageError("there is nothing to erase for this photo")
    subject_requests(request).file([str(a) for a in assets], str(form.get("contact") or ""))
    return render(request, "lookup_filed.html")
