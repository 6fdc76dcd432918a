"""The erasure workflow as one object: plan, show, approve, run (dry by default), verify."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo
from disgorge.enforcement import review_runs
from disgorge.erasure.execute import ExecuteOptions, ExecutionReport, execute
from disgorge.erasure.plan import PlanRequest, build_plan
from disgorge.erasure.targets import reach_report, unreachable
from disgorge.erasure.verify import VerificationReport, verify
from disgorge.errors import NotFoundError, UsageError
from disgorge.lineage import Scope
from disgorge.policy import Policy
from disgorge.scan import Indexes
from disgorge.scan.guard import flag_after_erasure
from disgorge.storage import StorageConfig


@dataclass
class Erasures:
    store: CatalogStore
    indexes: Indexes
    storage: StorageConfig
    notices_dir: Path
    policy: Policy

    def plan(
        self,
        *,
        scope: tuple[str, str] | None,
        withdrawn: bool,
        reason: str,
        legal_basis: str,
        requester: str,
        deadline: str | None = None,
    ) -> tuple[PlanInfo, bool]:
        if (scope is None) == (not withdrawn):
            raise UsageError("give exactly one of --subject, --source, --dataset, --asset or --withdrawn")
        if not reason.strip() or not legal_basis.strip():
            raise UsageError(
                "an erasure order needs --reason and --legal-basis", hint="they go on the certificate"
            )
        if deadline is not None:
            try:
                datetime.fromisoformat(deadline)
            except ValueError as exc:
                raise UsageError(f"--deadline {deadline!r} is not a date", hint="e.g. 2026-12-31") from exc
        req = PlanRequest(Scope(*scope) if scope else None, reason, legal_basis, requester, deadline)  # type: ignore[arg-type]
        if withdrawn:
            assets = self.withdrawn_assets()
            if not assets:
                raise NotFoundError(
                    "no recorded run uses data whose consent was withdrawn", hint="nothing to erase"
                )
            return build_plan(self.store, req, assets)
        return build_plan(self.store, req)

    def withdrawn_assets(self) -> BitMap:
        """Assets that recorded runs read and whose subjects have since withdrawn consent for that use."""
        out = BitMap()
        for review in review_runs(self.store, policy=self.policy, at=datetime.now(UTC)):
            out |= review.report.denied_by_reason.get("consent_withdrawn", BitMap())
        return out

    def reachability(self, ref: str) -> dict[str, Any]:
        """Which pending targets the storage configuration cannot reach, and what would fix it."""
        plan = self.store.get_plan(ref)
        pending = list(self.store.targets(plan.id, states=("pending", "failed", "skipped")))
        return reach_report(unreachable(pending, self.storage))

    def show(self, ref: str) -> dict[str, Any]:
        plan = self.store.get_plan(ref)
        return {
            "plan_id": plan.id,
            "status": plan.status,
            "scope": plan.scope,
            "reason": plan.reason,
            "legal_basis": plan.legal_basis,
            "deadline": plan.deadline,
            "requester": plan.requester,
            "approvers": list(plan.approvers),
            "counts": plan.counts,
            "survives": plan.survivors,
            "journal": self.store.journal_counts(plan.id),
            "verification": self.store.verification(plan.id),
            "unreachable": self.reachability(plan.id),
        }

    def approve(self, ref: str, approver: str) -> PlanInfo:
        return self.store.approve_plan(ref, approver)

    def run(
        self,
        ref: str,
        *,
        dry_run: bool = True,
        rehash: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExecutionReport:
        opts = ExecuteOptions(self.storage, self.notices_dir, dry_run=dry_run, rehash=rehash)
        report = execute(self.store, ref, opts, progress=progress)
        if not dry_run and report.status == "done":
            flag_after_erasure(self.store, self.indexes, report.plan_id)
        return report

    def verify(self, ref: str, roots: list[str] | None = None) -> VerificationReport:
        return verify(self.store, ref, storage=self.storage, indexes=self.indexes, roots=roots)
