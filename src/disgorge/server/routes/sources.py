"""Sources and their notices: register a source, record a new notice version, list and show them;
record a recipient's signed acknowledgement of an erasure notice."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from disgorge.catalog import SourceInfo
from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, page
from disgorge.server.routes.statements import SignedIn
from disgorge.trust import parse

router = APIRouter(prefix=API, tags=["sources"])

Names = list[str]


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


class SourceChange(SourceOut):
    changed: bool = Field(description="False when the notice (and the rest) was already recorded.")


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    notice: str = Field(min_length=1, max_length=1_000_000, description="The privacy notice's text.")
    uses: Names = Field(min_length=1, description="Permitted data uses (fideslang keys).")
    recipients: Names = []
    categories: Names = []
    controller: str | None = Field(None, max_length=500)
    legal_basis: str | None = Field(None, max_length=200)


class NoticeIn(BaseModel):
    """A new version of a source's notice; what it does not give stays as the current version has it."""

    notice: str = Field(min_length=1, max_length=1_000_000)
    uses: Names | None = None
    recipients: Names | None = None
    categories: Names | None = None


class AckOut(BaseModel):
    notice_id: str
    party: str
    plan_id: str
    acknowledged_by: str
    recorded: bool
    ledger_index: int


def source_out(s: SourceInfo) -> SourceOut:
    return SourceOut(
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


def _change(s: SourceInfo, changed: bool) -> SourceChange:
    return SourceChange(**source_out(s).model_dump(), changed=changed)


@router.get(
    "/sources", response_model=Page[SourceOut], summary="Sources and notices", dependencies=[requires("read")]
)
def sources(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[SourceOut]:
    return page([source_out(s) for s in cat.sources()], cursor, limit)


@router.post(
    "/sources",
    response_model=SourceChange,
    summary="Register a source (or a new notice version of one)",
    dependencies=[requires("source.write")],
)
def add_source(cat: Cat, body: SourceIn) -> SourceChange:
    info, changed = cat.add_source(
        body.name,
        notice=body.notice.encode(),
        uses=sorted(set(body.uses)),
        recipients=sorted(set(body.recipients)),
        categories=sorted(set(body.categories)),
        controller=body.controller,
        legal_basis=body.legal_basis,
    )
    return _change(info, changed)


@router.get(
    "/sources/{name}", response_model=SourceOut, summary="One source", dependencies=[requires("read")]
)
def show_source(cat: Cat, name: str) -> SourceOut:
    return source_out(cat.source(name))


@router.post(
    "/sources/{name}/notices",
    response_model=SourceChange,
    summary="Record a new version of a source's notice",
    dependencies=[requires("source.write")],
)
def record_notice(cat: Cat, name: str, body: NoticeIn) -> SourceChange:
    current = cat.source(name)
    info, changed = cat.add_source(
        current.name,
        notice=body.notice.encode(),
        uses=sorted(set(body.uses if body.uses is not None else current.uses)),
        recipients=sorted(set(body.recipients if body.recipients is not None else current.recipients)),
        categories=sorted(set(body.categories if body.categories is not None else current.categories)),
        controller=current.controller,
        legal_basis=current.legal_basis,
    )
    return _change(info, changed)


@router.post(
    "/notices/acks",
    response_model=AckOut,
    tags=["erasure"],
    summary="Record a recipient's signed acknowledgement of an erasure notice",
    dependencies=[requires("notice.record")],
)
def record_ack(cat: Cat, body: SignedIn) -> dict[str, Any]:
    return cat.recipients.record_ack(parse(body.model_dump(), "the acknowledgement"))
