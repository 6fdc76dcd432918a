"""The catalog's near-duplicate indexes, kept beside the catalog and brought up to date on open.

``catalog``: every asset's whole-image PDQ and its stored crops, under the asset id. ``erased``: the PDQ
of erased content and its stored crops (tombstones), under the tombstone id. Both are rebuilt from the catalog, which stays
the source of truth, whenever what they hold no longer matches it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from disgorge.catalog import CatalogStore
from disgorge.catalog.schema import Asset, AssetHash, Tombstone
from disgorge.neardup import HammingIndex


def _codes(rows: list[tuple[int, bytes | None]]) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in rows if r[1] is not None]
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    codes = (
        np.frombuffer(b"".join(r[1] for r in rows if r[1] is not None), dtype=np.uint8).reshape(-1, 32)
        if rows
        else np.zeros((0, 32), np.uint8)
    )
    return ids, codes


class Indexes:
    def __init__(self, store: CatalogStore, directory: Path) -> None:
        self.store = store
        self.directory = directory

    def fingerprint(self, which: str) -> dict[str, int]:
        """What the index must hold now (rows, newest id): equal fingerprints, equal indexes."""
        return self._fingerprint(which)

    def rows(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, code) the named index holds, read from the catalog: what an engine ships to its
        workers, which may run on machines that cannot see this home's index files."""
        parts = list(self._rows(which, 0))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 32), np.uint8)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _fingerprint(self, which: str) -> dict[str, int]:
        with self.store.session() as s:
            if which == "catalog":
                n, top = s.execute(
                    select(func.count(Asset.id), func.max(Asset.id)).where(Asset.pdq.is_not(None))
                ).one()
                crops = s.scalar(select(func.count()).select_from(AssetHash)) or 0
                return {"rows": int(n or 0) + int(crops), "max_id": int(top or 0)}
            n, top = s.execute(
                select(func.count(Tombstone.id), func.max(Tombstone.id)).where(Tombstone.pdq.is_not(None))
            ).one()
            return {"rows": int(n or 0), "max_id": int(top or 0)}

    def open(self, which: str) -> HammingIndex:
        """The named index, synced with the catalog: new rows appended, a full rebuild if rows vanished."""
        path = self.directory / which
        state_file = path.parent / f"{which}.sync.json"
        want = self._fingerprint(which)
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        index = HammingIndex.open(path)
        if state == want:
            return index
        if state is None or state["max_id"] > want["max_id"] or state["rows"] > want["rows"]:
            index.close()
            _clear(path)
            index = HammingIndex.open(path)
            start = 0
        else:
            start = state["max_id"]
        for ids, codes in self._rows(which, start):
            index.add(ids, codes)
        index.save()
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(want))
        os.replace(tmp, state_file)
        return index

    def _rows(self, which: str, after: int, batch: int = 200_000):  # type: ignore[no-untyped-def]
        with self.store.session() as s:
            if which == "catalog":
                last = after
                while True:
                    rows = s.execute(
                        select(Asset.id, Asset.pdq)
                        .where(Asset.id > last, Asset.pdq.is_not(None))
                        .order_by(Asset.id)
                        .limit(batch)
                    ).all()
                    if not rows:
                        break
                    last = rows[-1][0]
                    crops = s.execute(
                        select(AssetHash.asset_id, AssetHash.pdq).where(
                            AssetHash.asset_id > rows[0][0] - 1, AssetHash.asset_id <= last
                        )
                    ).all()
                    yield _codes([(r[0], r[1]) for r in rows] + [(c[0], c[1]) for c in crops])
            else:
                tombs = s.execute(
                    select(Tombstone.id, Tombstone.pdq, Tombstone.crops).where(
                        Tombstone.id > after, Tombstone.pdq.is_not(None)
                    )
                ).all()
                codes: list[tuple[int, bytes | None]] = []
                for tid, pdq, extra in tombs:  # the crops too: a cropped copy is found after erasure
                    codes.append((tid, pdq))
                    blob = bytes(extra or b"")
                    codes += [(tid, blob[i : i + 32]) for i in range(0, len(blob) - 31, 32)]
                if codes:
                    yield _codes(codes)


def _clear(path: Path) -> None:
    if path.exists():
        for p in sorted(path.rglob("*"), reverse=True):
            p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
