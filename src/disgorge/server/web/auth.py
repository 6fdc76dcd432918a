"""Sign-in with an API token (exchanged for a session cookie) and sign-out."""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from disgorge.errors import Unauthenticated
from disgorge.server.web.session import Session, check_csrf, current
from disgorge.server.web.views import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
_LOCAL = re.compile(r"^/(?![/\\])[\w\-./?=&%]*$")


def _next(value: object) -> str:
    """Only a path on this site: never an open redirect to another."""
    text = str(value or "/")
    return text if _LOCAL.match(text) and not text.startswith("/signin") else "/"


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    return render(request, "signin.html", next=_next(next), problem=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await check_csrf(request)
    request.app.state.web_signin_limiter.take(request, "sign-in")
    token = str(form.get("token") or "").strip()
    try:
        who = await run_in_threadpool(request.app.state.tokens.authenticate, token)
    except Unauthenticated as exc:
        return render(request, "signin.html", 401, next=_next(form.get("next")), problem=exc.message)
    token_id = token.split("_")[1]
    request.state.web_session = Session(secrets.token_urlsafe(24), token_id, who)
    return redirect(request, _next(form.get("next")))


@router.post("/signout")
async def signout(request: Request) -> Response:
    await check_csrf(request)
    request.state.web_session = Session(secrets.token_urlsafe(24))
    current(request)
    return redirect(request, "/signin")
