"""The catalog's forgetting of erased assets (set-based, through temporary tables), on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyroaring import BitMap
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Asset, Copy, ErasurePlan, Subject, Tombstone
from disgorge.ingest import IngestOptions


def test_forgetting_is_idempotent_and_survives_a_failed_attempt(
    cat: disgorge.Catalog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    store = cat.store
    with store.session() as s:
        rows = s.execute(select(Asset.id, Asset.subject_id).order_by(Asset.id)).all()
    first_subject = rows[0][1]
    erased = BitMap(a for a, sid in rows if sid == first_subject)
    kept = len(rows) - len(erased)
    plan = "f" * 64
    with store.session() as s:
        s.add(
            ErasurePlan(
                id=plan,
                scope={},
                reason="r",
                legal_basis="b",
                requester="ann",
                counts={},
                survivors={},
                assets=b"",
            )
        )
    real = store.hasher.tag

    def broken(domain: str, value: str | bytes) -> str:  # fault injection: the first attempt dies midway
        raise RuntimeError("killed")

    monkeypatch.setattr(store.hasher, "tag", broken)
    with pytest.raises(RuntimeError, match="killed"):
        store.forget_assets(plan, erased)
    monkeypatch.setattr(store.hasher, "tag", real)
    counts = store.forget_assets(plan, erased)  # the same connection may be reused: its temp table too
    assert counts == {"assets": len(erased), "subjects": 1, "tombstones": len(erased)}
    assert store.forget_assets(plan, erased) == {"assets": 0, "subjects": 0, "tombstones": 0}
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == kept
        assert s.scalar(select(func.count()).select_from(Copy).where(Copy.asset_id.in_(list(erased)))) == 0
        assert s.scalar(select(Subject.id).where(Subject.id == first_subject)) is None
        assert s.scalar(select(func.count()).select_from(Tombstone)) == len(erased)
