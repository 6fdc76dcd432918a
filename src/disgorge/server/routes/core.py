"""Who am I, and the impact question: the routes every role starts from."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
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
def impact(cat: Cat, kind: Literal["subject", "source", "dataset", "asset"], value: str) -> dict[str, Any]:
    return cat.impact(kind, value).to_json()
