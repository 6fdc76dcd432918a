"""The authorisation matrix: every route of the app × every role, against ``model/roles.py``.

Each route declares its action (``requires(ACTION)`` or ``PUBLIC``); the expected verdict for a role is
``ACTIONS[action]``, so the matrix is data and a new route without a declared action fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

import disgorge
from disgorge.access.tokens import TokenService
from disgorge.model.roles import ACTIONS, ROLES
from disgorge.server import create_app
from disgorge.server.deps import API, Public, Requires
from disgorge.trust import Identity

from .conftest import LiveServer


def declared(route: APIRoute) -> list[str]:
    return [
        d.dependency.action
        for d in route.dependencies
        if isinstance(d.dependency, Requires | Public)  # type: ignore[attr-defined]
    ]


def walk(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route, through included routers (which FastAPI keeps as branches of the app's routes)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from walk(inner.routes)
        elif isinstance(r, APIRoute):
            yield r


def api_routes(cat: disgorge.Catalog) -> list[tuple[str, str, str]]:
    """(method, path, action) of every REST route, read off the app itself."""
    out = []
    for route in walk(create_app(cat).routes):
        if not route.path.startswith(API):
            continue
        actions = declared(route)
        assert len(actions) == 1, f"{route.path} declares {actions or 'no action'}: add requires(ACTION)"
        for method in sorted(route.methods):
            out.append((method, route.path, actions[0]))
    return out


def test_every_route_declares_one_known_action(sqlite_cat: disgorge.Catalog) -> None:
    routes = api_routes(sqlite_cat)
    assert len(routes) >= 30
    assert all(a in ACTIONS or a == "public" for _, _, a in routes)
    assert [p for _, p, a in routes if a == "public"] == [f"{API}/lookup"]


@pytest.fixture
def role_tokens(cat: disgorge.Catalog) -> dict[str, str]:
    """One roster member per role, holding only that role, and a token for each."""
    tokens = {}
    service = TokenService(cat.store)
    for role in ROLES:
        who = Identity.generate(f"only-{role}")
        cat.change_roster("roster.add", who.name, key=who.public_key, roles=[role])
        _, tokens[role] = service.issue(cat.principal, "matrix", principal=who.name)
    return tokens


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_authorisation_matrix(cat: disgorge.Catalog, role_tokens: dict[str, str], tmp_path: Any) -> None:
    routes = api_routes(cat)
    server = LiveServer(
        tmp_path, catalog_url=cat.store.url, DISGORGE_LOOKUP_BURST="1000", DISGORGE_TOKEN_CACHE_SECONDS="60"
    )
    import httpx

    wrong: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for method, path, action in routes:
                url = _fill(path)
                anonymous = c.request(method, url, json={})
                if action == "public":
                    assert anonymous.status_code not in (401, 403), (path, anonymous.text)
                    continue
                if anonymous.status_code != 401:
                    wrong.append(f"{method} {path} without a token: {anonymous.status_code}")
                for role, token in role_tokens.items():
                    r = c.request(method, url, json={}, headers={"Authorization": f"Bearer {token}"})
                    allowed = role in ACTIONS[action]
                    if allowed and r.status_code in (401, 403):
                        wrong.append(f"{method} {path} ({action}) as {role}: {r.status_code} {r.text[:120]}")
                    if not allowed and (r.status_code != 403 or action not in r.json()["message"]):
                        wrong.append(f"{method} {path} ({action}) as {role}: {r.status_code}, expected 403")
                    if r.status_code >= 500:
                        wrong.append(f"{method} {path} as {role}: {r.status_code} {r.text[:120]}")
    finally:
        server.stop()
    assert not wrong, "\n".join(wrong)
