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
    from disgorge.catalog.tokens import TokenRow
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
        self,
        roots: Sequence[str],
        *,
        against: str = "catalog",
        radius: int = 31,
        workers: int = 0,
        engine: str = "local",
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
        if engine not in ("local", "ray"):
            raise UsageError(f"--engine {engine!r} is unknown", hint="use local or ray")
        s3_roots = [r for r in roots if r.startswith("s3://")]
        others = [r for r in roots if not r.startswith("s3://")]
        if engine != "local" and others:
            raise UsageError(
                f"--engine {engine} scans s3:// prefixes; {others[0]} is scanned by this machine's cores",
                hint="scan local folders without --engine, or give only s3:// prefixes",
            )
        from disgorge.scan import ScanReport, scan

        report = ScanReport(against, radius)
        if others:
            report = scan(
                self.store,
                self.indexes,
                others,
                against=against,
                radius=radius,
                storage=self.storage_config,
                workers=workers or min(2, os.cpu_count() or 1),
            )
        if s3_roots:
            from disgorge.engines import EngineOptions, scan_s3

            for root in s3_roots:
                part = scan_s3(
                    self.store,
                    self.indexes,
                    root,
                    against=against,
                    radius=radius,
                    s3=self.storage_config.s3,
                    eng=EngineOptions(engine, workers),
                )
                report.scanned += part.scanned
                report.bytes += part.bytes
                report.matches += part.matches
                report.problems += part.problems
                report.roots += part.roots
                report.engine = part.engine
        return report

    def lookup(self, photo: Path, *, radius: int = 31) -> LookupResult:
        self._may("read")
        from disgorge.scan import lookup

        return lookup(self.store, self.indexes, photo, radius=radius)

    def lookup_bytes(self, data: bytes, photo: str, *, radius: int = 31) -> LookupResult:
        """:meth:`lookup` of a photo's bytes sent by a client (``disgorge lookup`` through a server);
        ``photo`` is the name the answer is given for."""
        self._may("read")
        from disgorge.scan.lookup import lookup_bytes

        return lookup_bytes(self.store, self.indexes, data, photo, radius=radius)

    def unknown_subjects(self, kind: str, value: str) -> dict[str, int]:
        """Assets of a scope with no known subject, by source: what an erasure plan cannot include."""
        self._may("read")
        from disgorge.lineage.impact import Scope, unknown_subjects_of

        return unknown_subjects_of(self.store, Scope(kind, value))  # type: ignore[arg-type]

    def tokens(self) -> list[TokenRow]:
        """The caller's API tokens (an admin sees everyone's), without their secrets."""
        from disgorge.access.tokens import TokenService

        return TokenService(self.store).list(self.principal)

    def issue_token(
        self, name: str, *, principal: str | None = None, expires: str | None = None
    ) -> tuple[TokenRow, str]:
        """A new API token (yours, or for an admin another member's) and its secret, shown only now."""
        from disgorge.access.tokens import TokenService

        return TokenService(self.store).issue(self.principal, name, principal=principal, expires=expires)

    def revoke_token(self, token_id: str) -> TokenRow:
        from disgorge.access.tokens import TokenService

        return TokenService(self.store).revoke(self.principal, token_id)

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
