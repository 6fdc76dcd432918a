"""Finding content and answering questions: scans, lookups, sources, impact and lineage."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from disgorge.errors import UsageError
from disgorge.facade.base import FacadeBase

if TYPE_CHECKING:
    from disgorge.catalog import SourceInfo
    from disgorge.lineage import BillOfMaterials, Impact
    from disgorge.scan import Indexes, LookupResult, ScanReport
    from disgorge.storage import StorageConfig


class FindingMixin(FacadeBase):
    if TYPE_CHECKING:

        @property
        def storage_config(self) -> StorageConfig: ...

    # finding content
    @property
    def indexes(self) -> Indexes:
        """Near-duplicate indexes kept in the home, synced with the catalog when opened."""
        from disgorge.scan import Indexes

        return Indexes(self.store, self.home.path / "neardup")

    def scan(
        self, roots: Sequence[str], *, against: str = "catalog", radius: int = 31, workers: int = 0
    ) -> ScanReport:
        self._may("read")
        if against not in ("catalog", "erased") and not against.startswith("dataset:"):
            raise UsageError(
                f"--against {against!r} is unknown", hint="use catalog, erased or dataset:NAME[@V]"
            )
        if not 0 <= radius <= 64:
            raise UsageError(
                f"--radius {radius} is out of range", hint="PDQ matches at 31 or less; 0..64 allowed"
            )
        from disgorge.scan import scan

        return scan(
            self.store,
            self.indexes,
            list(roots),
            against=against,
            radius=radius,
            storage=self.storage_config,
            workers=workers or min(2, os.cpu_count() or 1),
        )

    def lookup(self, photo: Path, *, radius: int = 31) -> LookupResult:
        self._may("read")
        from disgorge.scan import lookup

        return lookup(self.store, self.indexes, photo, radius=radius)

    # questions
    def sources(self) -> list[SourceInfo]:
        self._may("read")
        return self.store.list_sources()

    def impact(self, kind: str, value: str) -> Impact:
        self._may("read")
        if kind not in ("subject", "source", "dataset", "asset"):
            raise UsageError(
                f"impact scope {kind!r} is unknown", hint="use subject, source, dataset or asset"
            )
        from disgorge.lineage import Scope, impact

        return impact(self.store, Scope(kind, value))  # type: ignore[arg-type]

    def lineage(self, model: str) -> BillOfMaterials:
        self._may("read")
        from disgorge.lineage import bill_of_materials

        return bill_of_materials(self.store, model)

    def public_lookup(self, data: bytes) -> dict[str, Any]:
        """A data subject's "was this photo used?": only used / not used and the kinds of use of near
        copies of that photo; no dataset, model, subject, path or distance of anyone's data.

        The one facade method with no role: the server offers it to people who hold no token."""
        from disgorge.scan.lookup import lookup_bytes

        if not data:
            raise UsageError("the request body is empty", hint="send the photo's bytes (JPEG, PNG or WebP)")
        found = lookup_bytes(self.store, self.indexes, data, "upload")
        kinds: set[str] = set()
        uses: set[str] = set()
        for m in found.matches:
            kinds.add("stored")
            if m["datasets"]:
                kinds.add("dataset")
            if m["models"]:
                kinds.add("model_training")
            if m.get("deployed"):
                kinds.add("deployed_model")
            if m["recipients"]:
                kinds.add("shared_with_recipient")
            uses.update(m.get("uses", ()))
        return {
            "answered": found.answered,
            "used": found.found,
            "kinds": sorted(kinds),
            "uses": sorted(uses),
            "reason": found.reason,
        }
