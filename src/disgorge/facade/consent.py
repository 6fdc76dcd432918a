"""Consent and enforcement: the policy, consent imports, checks and run reviews."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from disgorge.facade.finding import FindingMixin

if TYPE_CHECKING:
    from disgorge.enforcement import CheckReport, RunReview
    from disgorge.policy import Policy


class ConsentMixin(FindingMixin):
    # consent and enforcement
    @property
    def policy(self) -> Policy:
        """The catalog's policy (``disgorge policy set``; a home's ``policy.yaml`` is taken in once), or the
        built-in default: consent and notices decide."""
        from disgorge.policy import DEFAULT_POLICY, parse_policy
        from disgorge.shared import policy_text

        # read per use (one small query, so a `policy set` from any home or process is seen at once);
        # parsed once per text, in the store, which the server's per-request views share
        stored = policy_text(self.store, self.home)
        text, origin = stored if stored else (DEFAULT_POLICY, "built-in default")
        parsed: dict[tuple[str, str], Policy] = self.store.__dict__.setdefault("_parsed_policies", {})
        policy = parsed.get((text, origin))
        if policy is None:
            policy = parse_policy(text, origin)
            if len(parsed) >= 8:
                parsed.clear()
            parsed[(text, origin)] = policy
        return policy

    def import_consent(self, path: Path) -> tuple[int, bool]:
        self._may("consent.import")
        from disgorge.enforcement import read_consent_file

        lines, digest = read_consent_file(path)
        return self.store.import_consent(lines, file_sha256=digest, origin=str(path))

    def check(
        self,
        datasets: Sequence[str],
        *,
        use: str,
        recipient: str,
        at: datetime | None = None,
        record: bool = True,
    ) -> CheckReport:
        self._may("check")
        from disgorge.enforcement import check_datasets

        self.policy  # noqa: B018 - validate the policy before reading data
        infos = [self.store.get_dataset(d) for d in datasets]
        report = check_datasets(self.store, infos, use=use, recipient=recipient, policy=self.policy, at=at)
        if record:
            self.store.record_decision(report.record("check"))
        return report

    def warm(self) -> int:
        """Build the caches the first requests after a start would otherwise build while they wait:
        the lineage graph, the rows impact reports list, and the gate's for the newest runs' inputs
        (``warm_gate``). What the server does in the background when it starts; safe at any time (the
        caches stay stamped)."""
        from disgorge.catalog.impact_rows import report_rows
        from disgorge.enforcement.gate import warm_gate

        with self.store.session() as s:
            report_rows(self.store).warm(s, self.store.lineage_graph(s))
        return warm_gate(self.store, self.policy)

    def review_runs(self, at: datetime | None = None) -> list[RunReview]:
        self._may("read")
        from disgorge.enforcement import review_runs

        return review_runs(self.store, policy=self.policy, at=at)

    def unknown_provenance_runs(self) -> list[dict[str, Any]]:
        """Captured runs that read something the catalog cannot name (see docs/capture.md)."""
        self._may("read")
        return self.store.unknown_provenance_runs()

    def import_consent_bytes(self, data: bytes, *, origin: str, jsonl: bool = False) -> tuple[int, bool]:
        """:meth:`import_consent` of a file's bytes (the server's request body)."""
        self._may("consent.import")
        from disgorge.enforcement import parse_consent

        lines, digest = parse_consent(data, origin, jsonl=jsonl)
        return self.store.import_consent(lines, file_sha256=digest, origin=origin)
