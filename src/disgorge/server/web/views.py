"""Rendering: Jinja2 templates (autoescaped), the session cookie on every page, errors as pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from disgorge import __version__
from disgorge.errors import DisgorgeError
from disgorge.model.roles import ACTIONS
from disgorge.server.deps import settled
from disgorge.server.web.session import NeedsSignIn, current, sessions

HERE = Path(__file__).parent
env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["n"] = lambda v: f"{int(v):,}"
env.filters["short"] = lambda v, k=12: (str(v)[:k] + "…") if v and len(str(v)) > k else (v or "")
env.filters["when"] = lambda v: str(v)[:19].replace("T", " ") if v else ""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
    session = current(request)
    who = session.principal
    body = env.get_template(template).render(
        request=request,
        who=who,
        may=(lambda action: who is not None and bool(ACTIONS[action] & who.roles)),
        csrf=session.csrf,
        version=__version__,
        path=request.url.path,
        **ctx,
    )
    response = Response(body, status_code=status, media_type="text/html; charset=utf-8")
    finish(request, response)
    return response


def finish(request: Request, response: Response) -> None:
    response.headers.update(SECURITY_HEADERS)
    sessions(request).write(response, current(request), secure=request.url.scheme == "https")


def redirect(request: Request, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    finish(request, response)
    return response


class WebRoute(APIRoute):
    """A dashboard route: a refusal or bad input is a page that says what and why, never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            await settled(request)
            try:
                return await handler(request)
            except NeedsSignIn:
                return redirect(request, "/signin?next=" + request.url.path)
            except DisgorgeError as exc:
                return render(request, "error.html", exc.http_status, error=exc)

        return route
