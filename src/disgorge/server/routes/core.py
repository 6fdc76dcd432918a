"""Who am I, and the impact question: the routes every role starts from."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from disgorge.server.deps import API, Cat, Who, requires

router = APIRouter(prefix=API)


class PrincipalOut(BaseModel):
    name: str
    roles: list[str]
    key: str | None


class ImpactOut(BaseModel):
    """Everything downstream of a scope (``disgorge impact --json``)."""

    scope: str
    counts: dict[str, int]
    copies: list[str]
    copies_truncated: bool
    datasets: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    models: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    recipients: list[str]
    unknown_subject_assets: int = 0
    unknown_subject_by_source: dict[str, int] = {}


@router.get(
    "/whoami",
    response_model=PrincipalOut,
    tags=["access"],
    summary="The token's principal",
    dependencies=[requires("read")],
)
def whoami(who: Who) -> PrincipalOut:
    return PrincipalOut(name=who.name, roles=sorted(who.roles), key=who.key)


@router.get(
    "/impact",
    response_model=ImpactOut,
    tags=["lineage"],
    summary="Everything downstream of a scope",
    dependencies=[requires("read")],
)
def impact(cat: Cat, kind: Literal["subject", "source", "dataset", "asset"], value: str) -> Response:
    """Encoded here, not validated against ``ImpactOut`` on the way out: the answer is built by one
    function (the CLI's ``impact --json`` prints the same), and re-validating its lists was a third of
    the route's time for a subject. ``ImpactOut`` stays the documented schema (schemathesis checks it)."""
    body = json.dumps(cat.impact(kind, value).to_json(), separators=(",", ":"), ensure_ascii=False)
    return Response(body.encode(), media_type="application/json")
