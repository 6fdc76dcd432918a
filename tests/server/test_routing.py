"""The routers producers and training jobs call in volume come first in the app (Starlette tries routes
in order): that is safe only while none of their paths can match another router's."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from disgorge.server import web
from disgorge.server.app import FIRST, ROUTERS


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_no_path_of_the_routers_taken_first_matches_a_later_one_or_the_other_way() -> None:
    assert ROUTERS[: len(FIRST)] == FIRST
    later = [
        r for m in (*ROUTERS[len(FIRST) :], *web.PAGES) for r in m.router.routes if isinstance(r, APIRoute)
    ]
    assert len(later) > 50
    for module in FIRST:
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for other in later:
                assert not route.path_regex.match(_sample(other.path)), (route.path, other.path)
                assert not other.path_regex.match(_sample(route.path)), (other.path, route.path)
