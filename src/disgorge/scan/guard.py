"""The re-ingestion guard: erased content cannot come back in.

It matches with :func:`disgorge.scan.scan.match`, the matcher of ``scan --against erased``: the new
image's 8 dihedral forms and its centre crops against every tombstone's whole-image PDQ and crop PDQs.
Exact matches (keyed sha256) are refused; near copies (within the PDQ radius) are refused too
(``near_erased_content``, naming the erasing plan and the distance) unless the caller allows them, in
which case they are registered and flagged with that plan, and every purpose check then denies them.
"""

from __future__ import annotations

import numpy as np

from disgorge.catalog import CatalogStore
from disgorge.model import AssetRecord, IngestProblem
from disgorge.neardup import DEFAULT_RADIUS, HammingIndex
from disgorge.scan.indexes import Indexes
from disgorge.scan.scan import Hashed, Match, Near, as_hashed, exact_refs, join, match


def as_query(r: AssetRecord) -> Hashed:
    """A record to register, as the matcher queries it (its dihedral forms when ingest computed them)."""
    forms = r.forms or ((r.pdq,) if r.pdq else ())
    crops = tuple(c for c, _ in r.crops) if r.pdq else ()
    return as_hashed(r.uri, r.sha256, r.size, forms=forms, crops=crops, quality=r.pdq_quality)


class Guard:
    def __init__(self, store: CatalogStore, indexes: Indexes, *, allow_near: bool = False) -> None:
        self.store = store
        self.indexes = indexes
        self.allow_near = allow_near
        """Register near copies of erased content, flagged, instead of refusing them."""
        self._erased: HammingIndex | None = None
        self._pending: list[tuple[str, str, int]] = []  # (sha256, plan id, distance): flagged, not stored yet

    def close(self) -> None:
        if self._erased is not None:
            self._erased.close()

    def active(self) -> bool:
        """Whether anything was ever erased: only then does ingest pay for the dihedral forms."""
        return self.store.has_tombstones()

    def screen(
        self, records: list[AssetRecord], near: Near | None = None
    ) -> tuple[list[AssetRecord], list[IngestProblem], list[IngestProblem]]:
        """(records to register, refused records, near copies registered with a flag). ``near`` is the
        near join against the erased index when an engine's workers already ran it."""
        if not records or not self.active():
            return records, [], []
        queries = [as_query(r) for r in records]
        if near is not None:
            found_all = join(self.store, "erased", queries, exact_refs(self.store, "erased", queries), near)
        else:
            if self._erased is None:
                self._erased = self.indexes.open("erased")
            found_all = match(self.store, self._erased, "erased", queries)
        best: dict[int, Match] = {}
        for found in found_all:
            if found.item not in best or found.distance < best[found.item].distance:
                best[found.item] = found
        keep: list[AssetRecord] = []
        refused: list[IngestProblem] = []
        flags: list[IngestProblem] = []
        for n, r in enumerate(records):
            m = best.get(n)
            if m is None:
                keep.append(r)
            elif m.kind == "exact":
                refused.append(
                    IngestProblem(
                        r.uri,
                        f"this content was erased under plan {m.ref[:12]}; it may not come back",
                        "erased_content",
                    )
                )
            else:
                what = (
                    f"near copy (PDQ distance {m.distance}, via {m.via}) of content erased under plan "
                    f"{m.ref[:12]}"
                )
                if self.allow_near:
                    keep.append(r)
                    flags.append(
                        IngestProblem(r.uri, f"{what}; registered and flagged", "near_erased_content")
                    )
                    self._pending.append((r.sha256, m.ref, m.distance))
                else:
                    refused.append(
                        IngestProblem(
                            r.uri,
                            f"{what}; not registered (ingest --allow-near-erased registers it, flagged)",
                            "near_erased_content",
                        )
                    )
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
