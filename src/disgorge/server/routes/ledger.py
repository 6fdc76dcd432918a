"""The ledger's signed checkpoints and the RFC 9162 proofs against them, for clients that keep an
earlier checkpoint and want to see the log only grew, or that one entry is in it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from disgorge.server.deps import API, Cat, requires
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
