"""The ledger's signed checkpoints and the RFC 9162 proofs against them, for clients that keep an
earlier checkpoint and want to see the log only grew, or that one entry is in it; and the stored
entries, checkpoints and keys as they are, for a client that audits the whole log itself
(``disgorge ledger verify`` through a server trusts nothing the server computed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from disgorge.server.deps import API, Cat, Cursor, Limit, requires
from disgorge.server.pagination import Page, offset, page
from disgorge.witness.client import configured_cosigner

router = APIRouter(prefix=API, tags=["ledger"])


class CheckpointOut(BaseModel):
    origin: str | None = None
    size: int
    root: str
    checkpoint: str
    cosignatures: int | None = None


class InclusionOut(BaseModel):
    index: int
    entry: str
    leaf: str
    tree_size: int
    root: str
    proof: list[str]
    checkpoint: str


class ConsistencyOut(BaseModel):
    old_size: int
    old_root: str
    new_size: int
    new_root: str
    proof: list[str]
    checkpoint: str | None


@router.get(
    "/ledger/checkpoint",
    response_model=CheckpointOut,
    summary="The latest signed checkpoint",
    dependencies=[requires("read")],
)
def latest(cat: Cat) -> dict[str, Any]:
    return cat.latest_checkpoint()


@router.post(
    "/ledger/checkpoints",
    response_model=CheckpointOut,
    summary="Sign a checkpoint of the ledger as it is now",
    dependencies=[requires("ledger.checkpoint")],
)
def checkpoint(cat: Cat) -> dict[str, Any]:
    """Cosigned by the witnesses an admin configured (``ledger witness add``), as a local checkpoint is."""
    return cat.checkpoint(cosigner=configured_cosigner(cat.store.settings))


@router.get(
    "/ledger/proofs/inclusion",
    response_model=InclusionOut,
    summary="Inclusion proof of one entry against the latest checkpoint",
    dependencies=[requires("read")],
)
def inclusion(cat: Cat, index: int = Query(ge=0, le=2**62)) -> dict[str, Any]:
    return cat.inclusion_proof(index)


@router.get(
    "/ledger/proofs/consistency",
    response_model=ConsistencyOut,
    summary="Consistency proof from an older tree size to a newer one (default: the latest checkpoint)",
    dependencies=[requires("read")],
)
def consistency(
    cat: Cat, old: int = Query(ge=1, le=2**62), new: int | None = Query(None, ge=1, le=2**62)
) -> dict[str, Any]:
    return cat.consistency_proof(old, new)


class EntryOut(BaseModel):
    index: int
    entry: str = Field(description="The entry's canonical JSON, as stored.")
    leaf: str = Field(description="The stored RFC 9162 leaf hash (hex), as stored: the client re-checks it.")


class NoteOut(BaseModel):
    size: int
    root: str
    checkpoint: str


class KeysOut(BaseModel):
    origin: str
    keys: list[str] = Field(description="Verifier keys of every signing key the log used, current first.")
    current: str = Field(description="The key it signs with now (`disgorge key export-public`).")


EntryLimit = Annotated[int, Query(ge=1, le=10_000, description="Entries per page.")]


@router.get(
    "/ledger/entries",
    response_model=Page[EntryOut],
    summary="The stored entries with their leaf hashes, in index order",
    dependencies=[requires("read")],
)
def entries(cat: Cat, limit: EntryLimit = 1000, cursor: Cursor = None) -> Page[EntryOut]:
    rows = cat.ledger_page(offset(cursor), limit + 1)
    items = [EntryOut(index=i, entry=e, leaf=leaf.hex()) for i, e, leaf in rows[:limit]]
    return Page[EntryOut](items=items, next=str(rows[limit][0]) if len(rows) > limit else None)


@router.get(
    "/ledger/checkpoints",
    response_model=Page[NoteOut],
    summary="Every stored checkpoint, oldest first",
    dependencies=[requires("read")],
)
def checkpoints(cat: Cat, limit: Limit = 100, cursor: Cursor = None) -> Page[NoteOut]:
    notes = [NoteOut(size=n, root=r, checkpoint=c) for n, r, c in cat.checkpoint_notes()]
    return page(notes, cursor, limit)


@router.get(
    "/ledger/keys",
    response_model=KeysOut,
    summary="The log's origin and the verifier keys of its checkpoints",
    dependencies=[requires("read")],
)
def keys(cat: Cat) -> dict[str, Any]:
    return cat.ledger_keys()
