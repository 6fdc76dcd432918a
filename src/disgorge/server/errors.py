"""Errors as JSON: the ``DisgorgeError`` tree with each class's HTTP status, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from disgorge.errors import DisgorgeError, RateLimited, Unauthenticated

log = logging.getLogger("disgorge.server")


def install(app: FastAPI) -> None:
    @app.exception_handler(DisgorgeError)
    async def _disgorge(request: Request, exc: DisgorgeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        if isinstance(exc, RateLimited) and exc.details:
            headers = {"Retry-After": str(exc.details.get("retry_after", 60))}
        return JSONResponse(exc.to_json(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:20]:
            where = ".".join(str(p) for p in e.get("loc", ()))
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        hint = "see /openapi.json for this endpoint's schema"
        sent = request.headers.get("content-type", "")
        if any(p.startswith("body") for p in problems) and "json" not in sent.lower():
            # FastAPI reads a JSON body only when it is labelled JSON (a cross-site form cannot be):
            # curl -d sends form encoding unless told otherwise
            hint = f"send the body as JSON with Content-Type: application/json (this one was {sent or 'unlabelled'!r}; curl: -H 'Content-Type: application/json' or --json)"
        body = {
            "error": "disgorge.usage",
            "message": "the request is not valid: " + "; ".join(problems),
            "hint": hint,
        }
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "disgorge.not_found", 405: "disgorge.usage"}.get(exc.status_code, "disgorge.error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {"error": "disgorge.error", "message": "the server failed; the traceback is in its log"}
        return JSONResponse(body, status_code=500)
