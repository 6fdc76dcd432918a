"""Browser sessions: an API token is exchanged once for a signed, HttpOnly, SameSite=Strict cookie.

The cookie names the token (its id, never its secret) and a CSRF secret; each request re-reads the token
row and the signed roster, so a revoked token, a revoked member or a changed role takes effect on the
next page. Every POST carries the CSRF secret in a form field, compared in constant time."""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from disgorge.api import Catalog
from disgorge.catalog.store import ACTOR
from disgorge.errors import PolicyDenied, Unauthenticated
from disgorge.model.roles import ACTIONS, Principal

COOKIE = "disgorge_session"
MAX_AGE = 12 * 3600


class NeedsSignIn(Unauthenticated):
    """A page needs a signed-in person: the browser is sent to the sign-in page."""


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    token_id: str | None = None
    principal: Principal | None = None


def _secret(home: Path) -> bytes:
    """The key that signs session cookies, kept in the home's keys folder (0600) so that every server
    process of a home accepts the same sessions, and a restart does not sign everyone out."""
    path = home / "keys" / "web-session.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        return path.read_bytes()


class Sessions:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._signer = URLSafeTimedSerializer(_secret(catalog.home.path), salt="disgorge-web-session")
        self.cache_seconds = float(os.environ.get("DISGORGE_TOKEN_CACHE_SECONDS", 10.0))
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    def read(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        doc: dict[str, Any] = {}
        if raw:
            try:
                doc = self._signer.loads(raw, max_age=MAX_AGE)
            except BadSignature:
                doc = {}
        csrf = str(doc.get("c") or "")
        token_id = doc.get("t")
        who = self._principal(str(token_id)) if token_id else None
        return Session(csrf or secrets.token_urlsafe(24), str(token_id) if who else None, who)

    def _principal(self, token_id: str) -> Principal | None:
        """The token's member with their roles now, or None if the token or the member is gone; kept
        for the API's token cache time, which so bounds how long a revocation takes here too."""
        now = time.monotonic()
        hit = self._seen.get(token_id)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        who = self._lookup(token_id)
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[token_id] = (now, who)
        return who

    def _lookup(self, token_id: str) -> Principal | None:
        from disgorge.access import roster

        row = self.catalog.store.tokens.get(token_id)
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None:
            at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            if at <= datetime.now(UTC):
                return None
        member = roster(self.catalog.store).active(row.principal)
        if member is None:
            return None
        return Principal(member.name, frozenset(member.roles), member.key)

    def write(self, response: Response, session: Session, *, secure: bool) -> None:
        value = self._signer.dumps({"c": session.csrf, "t": session.token_id})
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.web_sessions
    return found


def current(request: Request) -> Session:
    """The request's session, read once and kept on the request."""
    cached: Session | None = getattr(request.state, "web_session", None)
    if cached is None:
        cached = sessions(request).read(request)
        request.state.web_session = cached
        if cached.principal is not None:
            request.state.principal = cached.principal.name
            ACTOR.set(cached.principal.name)
    return cached


def signed_in(request: Request) -> Principal:
    who = current(request).principal
    if who is None:
        raise NeedsSignIn("sign in with an API token to see this page")
    return who


def catalog_for(request: Request) -> Catalog:
    base: Catalog = request.app.state.catalog
    return base.acting_as(signed_in(request))


def require(request: Request, action: str) -> Principal:
    """The signed-in person, if they hold a role that allows ``action`` (as the API checks)."""
    who = signed_in(request)
    if not who.may(action):
        allowed = ", ".join(sorted(ACTIONS[action]))
        raise PolicyDenied(f"{who.name} may not {action.replace('.', ' ')}: it needs the role {allowed}")
    return who


async def check_csrf(request: Request) -> dict[str, Any]:
    """The POSTed form, if it carries this session's CSRF secret; refused otherwise."""
    form = await request.form()
    given = form.get("csrf")
    expected = current(request).csrf
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise PolicyDenied(
            "the form's CSRF token is missing or stale", hint="reload the page and submit the form again"
        )
    return dict(form)
