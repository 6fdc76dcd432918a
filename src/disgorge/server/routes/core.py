"""Who am I, sources, and the impact question: the routes every role starts from."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from disgorge.server.deps import API, Cat, Cursor, Limit, Who
from disgorge.server.pagination import Page, page

router = APIRouter(prefix=API)


class PrincipalOut(BaseModel):
    name: str
    roles: list[str]
    key: str | None


class SourceOut(BaseModel):
    id: int
    name: str
    controller: str | None
    legal_basis: str | None
    categories: list[str]
    notice_id: int
    notice_version: int
    notice_sha256: str
    uses: list[str]
    recipients: list[str]


@router.get("/whoami", response_model=PrincipalOut, tags=["access"], summary="The token's principal")
def whoami(who: Who) -> PrincipalOut:
    return PrincipalOut(name=who.name, roles=sorted(who.roles), key=who.key)


@router.get("/sources", response_model=Page[SourceOut], tags=["sources"], summary="Sources and notices")
def sources(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[SourceOut]:
    rows = [
        SourceOut(
            id=s.id,
            name=s.name,
            controller=s.controller,
            legal_basis=s.legal_basis,
            categories=list(s.categories),
            notice_id=s.notice_id,
            notice_version=s.notice_version,
            notice_sha256=s.notice_sha256,
            uses=list(s.uses),
            recipients=list(s.recipients),
        )
        for s in cat.sources()
    ]
    return page(rows, cursor, limit)


@router.get("/impact", tags=["lineage"], summary="Everything downstream of a scope")
def impact(cat: Cat, kind: Literal["subject", "source", "dataset", "asset"], value: str) -> dict[str, Any]:
    return cat.impact(kind, value).to_json()


@router.get("/lineage", tags=["lineage"], summary="A model's data bill of materials")
def lineage(cat: Cat, model: str) -> dict[str, Any]:
    return cat.lineage(model).to_json()
