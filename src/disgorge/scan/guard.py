"""The re-ingestion guard: erased content cannot come back in.

Exact matches (keyed sha256 of erased content) are refused; near duplicates (PDQ within 31 of erased
content, any dihedral form or stored crop) are flagged with the plan that erased the original.
"""

from __future__ import annotations

import numpy as np

from disgorge.catalog import CatalogStore
from disgorge.hashing.image import LOW_QUALITY
from disgorge.model import AssetRecord, IngestProblem
from disgorge.neardup import DEFAULT_RADIUS, HammingIndex
from disgorge.scan.indexes import Indexes


class Guard:
    def __init__(self, store: CatalogStore, indexes: Indexes) -> None:
        self.store = store
        self.indexes = indexes
        self._erased: HammingIndex | None = None
        self._pending: list[tuple[str, str, int]] = []  # (sha256, plan id, distance): flagged, not stored yet
        self._any_erased: bool | None = None

    def close(self) -> None:
        if self._erased is not None:
            self._erased.close()

    def screen(
        self, records: list[AssetRecord]
    ) -> tuple[list[AssetRecord], list[IngestProblem], list[IngestProblem]]:
        """(records to register, refused exact matches, near-duplicate flags)."""
        erased = self.store.tombstones_for([r.sha256 for r in records])
        keep = [r for r in records if r.sha256 not in erased]
        refused = [
            IngestProblem(
                r.uri,
                f"this content was erased under plan {erased[r.sha256][:12]}; it may not come back",
                "erased_content",
            )
            for r in records
            if r.sha256 in erased
        ]
        flags: list[IngestProblem] = []
        queries = [
            (n, code)
            for n, r in enumerate(keep)
            if r.pdq and (r.pdq_quality or 0) >= LOW_QUALITY
            for code in (r.pdq, *(c for c, _ in r.crops))
        ]
        if self._any_erased is None:
            self._any_erased = self.store.has_tombstones()
        if queries and self._any_erased:
            if self._erased is None:
                self._erased = self.indexes.open("erased")
            codes = np.frombuffer(b"".join(c for _, c in queries), dtype=np.uint8).reshape(-1, 32)
            hits: dict[int, tuple[int, int]] = {}
            for q, tomb, dist in self._erased.range_search(codes, DEFAULT_RADIUS):
                n = queries[q][0]
                if n not in hits or dist < hits[n][0]:
                    hits[n] = (dist, tomb)
            plans = self.store.tombstone_plans([t for _, t in hits.values()])
            for n, (dist, tomb) in sorted(hits.items()):
                plan = plans.get(tomb, "?")
                reason = f"near duplicate (PDQ distance {dist}) of content erased under plan {plan[:12]}"
                flags.append(IngestProblem(keep[n].uri, reason, "near_erased_content"))
                self._pending.append((keep[n].sha256, plan, dist))
        return keep, refused, flags

    def commit_flags(self) -> None:
        """Record the flags of a registered batch in the catalog, where check and export see them."""
        by_plan: dict[str, dict[int, int]] = {}
        for sha, plan, dist in self._pending:
            by_plan.setdefault(plan, {})[self.store.resolve_asset(sha)] = dist
        for plan, found in by_plan.items():
            self.store.flag_assets(plan, found)
        self._pending.clear()


def flag_after_erasure(store: CatalogStore, indexes: Indexes, plan_id: str) -> int:
    """Flag catalog assets that are near duplicates of what a plan just erased."""
    pdqs = [p for p, _ in store.tombstone_pdqs(plan_id)]
    if not pdqs:
        return 0
    index = indexes.open("catalog")
    try:
        found: dict[int, int] = {}
        for _q, asset_id, dist in index.range_search(
            np.frombuffer(b"".join(pdqs), np.uint8).reshape(-1, 32), DEFAULT_RADIUS
        ):
            found[asset_id] = min(dist, found.get(asset_id, 99))
    finally:
        index.close()
    return store.flag_assets(plan_id, found)
