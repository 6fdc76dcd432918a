"""Datasets (content-addressed versions) and registering records an ingest worker already hashed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from disgorge.catalog import DatasetInfo
from disgorge.errors import InputError
from disgorge.model import AssetRecord, IngestSummary
from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, page

router = APIRouter(prefix=API)

Hex64 = Field(pattern=r"^[0-9a-f]{64}$")
MAX_RECORDS = 10_000


class DatasetOut(BaseModel):
    id: int
    ref: str
    name: str
    version: int
    digest: str
    member_count: int
    derived_from: str | None
    query: str | None
    state: str
    stats: dict[str, Any]


class DatasetIn(BaseModel):
    """Exactly one of ``source``, ``from`` (filtered by ``where``) or ``manifest`` (sha256 or paths)."""

    name: str = Field(min_length=1, max_length=200)
    source: str | None = Field(None, min_length=1, max_length=200)
    from_: str | None = Field(None, alias="from", min_length=1, max_length=210)
    where: str | None = Field(None, min_length=1, max_length=2000)
    manifest: list[str] | None = Field(None, max_length=1_000_000)


class DatasetChange(DatasetOut):
    created: bool


class CropIn(BaseModel):
    pdq: str = Hex64
    quality: int = Field(ge=0, le=100)


class RecordIn(BaseModel):
    """One file as an ingest worker hashed it (``disgorge.ingest.hash_one``)."""

    sha256: str = Hex64
    size: int = Field(ge=0, le=2**53)
    media_type: str = Field(min_length=1, max_length=100)
    uri: str = Field(min_length=1, max_length=4000)
    subject: str | None = Field(None, min_length=1, max_length=500)
    pdq: str | None = Hex64
    pdq_quality: int | None = Field(None, ge=0, le=100)
    width: int | None = Field(None, ge=0, le=1_000_000)
    height: int | None = Field(None, ge=0, le=1_000_000)
    crops: list[CropIn] = Field([], max_length=8)
    forms: list[str] = Field(
        [], max_length=8, description="PDQ (hex) of the 8 dihedral forms, for the re-ingestion guard."
    )
    categories: list[str] = Field([], max_length=50)
    metadata: dict[str, Any] = {}
    mtime_ns: int = Field(0, ge=0, le=2**63 - 1)
    inode: int = Field(0, ge=0, le=2**63 - 1)


class RecordsIn(BaseModel):
    source: str = Field(min_length=1, max_length=200)
    records: list[RecordIn] = Field(min_length=1, max_length=MAX_RECORDS)
    allow_near_erased: bool = Field(False, description="Register near copies of erased content, flagged.")


class Problem(BaseModel):
    path: str
    code: str
    reason: str


class RecordsOut(BaseModel):
    """``disgorge ingest --json`` of the batch."""

    scanned: int
    new_assets: int
    new_copies: int
    unchanged: int
    bytes_read: int
    subjects_added: int
    unknown_subject: int
    problems: list[Problem]
    flags: list[Problem]


def dataset_out(d: DatasetInfo) -> DatasetOut:
    return DatasetOut(
        id=d.id,
        ref=d.ref,
        name=d.name,
        version=d.version,
        digest=d.digest,
        member_count=d.member_count,
        derived_from=d.derived_from,
        query=d.query,
        state=d.state,
        stats=d.stats,
    )


def _record(n: int, r: RecordIn) -> AssetRecord:
    for f in r.forms:
        if len(f) != 64 or any(c not in "0123456789abcdef" for c in f):
            raise InputError(f"records[{n}].forms: each form is a PDQ of 64 hex digits")
    return AssetRecord(
        sha256=r.sha256,
        size=r.size,
        media_type=r.media_type,
        uri=r.uri,
        mtime_ns=r.mtime_ns,
        inode=r.inode,
        width=r.width,
        height=r.height,
        pdq=bytes.fromhex(r.pdq) if r.pdq else None,
        pdq_quality=r.pdq_quality,
        crops=tuple((bytes.fromhex(c.pdq), c.quality) for c in r.crops),
        forms=tuple(bytes.fromhex(f) for f in r.forms),
        subject=r.subject,
        categories=tuple(sorted(set(r.categories))),
        metadata=r.metadata,
    )


@router.post(
    "/assets/records",
    response_model=RecordsOut,
    tags=["ingest"],
    summary="Register already-hashed records in one batch (through the re-ingestion guard)",
    dependencies=[requires("ingest")],
)
def register(cat: Cat, body: RecordsIn) -> dict[str, Any]:
    uris = [r.uri for r in body.records]
    if len(set(uris)) != len(uris):
        raise InputError("records list one uri twice", hint="send each file once, with its one subject")
    summary: IngestSummary = cat.register_records(
        body.source,
        [_record(n, r) for n, r in enumerate(body.records)],
        allow_near_erased=body.allow_near_erased,
    )
    return summary.to_json()


@router.get(
    "/datasets",
    response_model=Page[DatasetOut],
    tags=["datasets"],
    summary="Dataset versions",
    dependencies=[requires("read")],
)
def datasets(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[DatasetOut]:
    return page([dataset_out(d) for d in cat.datasets()], cursor, limit)


@router.post(
    "/datasets",
    response_model=DatasetChange,
    tags=["datasets"],
    summary="Create a dataset version",
    dependencies=[requires("dataset.write")],
)
def create(cat: Cat, body: DatasetIn) -> DatasetChange:
    info, created = cat.create_dataset(
        body.name, source=body.source, from_dataset=body.from_, where=body.where, entries=body.manifest
    )
    return DatasetChange(**dataset_out(info).model_dump(), created=created)


@router.get(
    "/datasets/{ref}",
    response_model=DatasetOut,
    tags=["datasets"],
    summary="One dataset version (NAME or NAME@VERSION)",
    dependencies=[requires("read")],
)
def show(cat: Cat, ref: str) -> DatasetOut:
    return dataset_out(cat.dataset(ref))
