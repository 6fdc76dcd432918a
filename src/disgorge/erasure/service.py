"""The erasure workflow as one object: plan, show, approve, run (dry by default), verify."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from disgorge.access import require
from disgorge.access.plans import check_executor, plan_authorization, request_body
from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo
from disgorge.enforcement import review_runs
from disgorge.erasure.execute import ExecuteOptions, ExecutionReport, execute
from disgorge.erasure.plan import PlanRequest, build_plan
from disgorge.erasure.targets import by_hand_report, reach_report, unreachable
from disgorge.erasure.verify import VerificationReport, verify
from disgorge.errors import ConflictError, NotFoundError, PolicyDenied, UsageError, VerificationFailed
from disgorge.lineage import Scope
from disgorge.model.roles import Principal
from disgorge.notices import Notifier
from disgorge.policy import Policy
from disgorge.scan import Indexes
from disgorge.scan.guard import flag_after_erasure
from disgorge.storage import StorageConfig
from disgorge.trust import ApprovalRule, Authorization, Signed


@dataclass
class Erasures:
    """The erasure workflow for one principal. Steps that are statements (request, approval, execution,
    resolution) take them already signed by the person: locally the facade signs with the caller's
    identity, through the server the client does; this service only verifies and records them."""

    store: CatalogStore
    indexes: Indexes
    storage: StorageConfig
    notices_dir: Path
    policy: Policy
    principal: Principal
    notifier: Notifier | None = None
    """Writes and delivers recipients' notices (signed with the home's log key)."""
    host: Any = None
    """The facade this service runs under: retrainers train through it."""

    @property
    def rule(self) -> ApprovalRule:
        doc = getattr(self.policy, "approvals", None)
        return ApprovalRule.from_json(doc) if doc else ApprovalRule()

    def plan(
        self,
        *,
        scope: tuple[str, str] | None,
        withdrawn: bool,
        reason: str,
        legal_basis: str,
        deadline: str | None = None,
        supplement: str | None = None,
        retrain: tuple[str, ...] | list[str] = (),
    ) -> tuple[PlanInfo, bool]:
        """Freeze a plan (a draft until its requester's signed request is recorded); ``supplement``
        freezes only what entered an existing plan's closure since it was planned; ``retrain`` names
        affected models to retrain exactly instead of only destroying them (SISA ensembles)."""
        require(self.principal, "erase.plan")
        _lineage_settled(self.store)
        if supplement is not None:
            if scope is not None or withdrawn:
                raise UsageError("--supplement PLAN takes the plan's own scope: give no other scope")
            scope, withdrawn = None, False
        elif (scope is None) == (not withdrawn):
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
        what = Scope(scope[0], scope[1]) if scope else None  # type: ignore[arg-type]
        parent = self.store.get_plan(supplement).id if supplement else None
        req = PlanRequest(
            what,
            reason,
            legal_basis,
            self.principal.name,
            deadline,
            supplement_of=parent,
            retrain=tuple(retrain),
        )
        if withdrawn:
            assets = self.withdrawn_assets()
            if not assets:
                raise NotFoundError(
                    "no recorded run uses data whose consent was withdrawn", hint="nothing to erase"
                )
            return build_plan(self.store, req, assets)
        return build_plan(self.store, req)

    def request_body(self, ref: str) -> dict[str, Any]:
        """What the requester signs for a plan."""
        return request_body(self.store.get_plan(ref), self.rule)

    def submit_request(self, ref: str, signed: Signed) -> PlanInfo:
        """Record the requester's signed request (idempotent: a plan keeps its first valid request)."""
        require(self.principal, "erase.plan")
        plan = self.store.get_plan(ref)
        if signed.kind != "erasure.request" or signed.about != plan.id:
            raise VerificationFailed(f"not a request for plan {plan.id[:12]}")
        if {k: v for k, v in signed.body.items() if k != "roster"} != request_body(plan, self.rule):
            raise VerificationFailed(f"the signed request does not match plan {plan.id[:12]} as planned")
        if self.store.statements.of_kinds(("erasure.request",), about=plan.id):
            return plan
        plan_authorization(self.store, plan, self.rule, candidate=signed)  # raises if it would not stand
        self.store.statements.add(signed)
        self.store.set_plan_status(plan.id, "planned")
        return self.store.get_plan(plan.id)

    def approve(self, ref: str, signed: Signed) -> Authorization:
        """Record a signed approval; refused (and not recorded) if it would not count."""
        require(self.principal, "erase.approve")
        plan = self.store.get_plan(ref)
        before = plan_authorization(self.store, plan, self.rule)
        if signed.principal in before.approvers:
            return before
        after = plan_authorization(self.store, plan, self.rule, candidate=signed)
        if len(after.approvals) == len(before.approvals):
            reason = after.rejected[-1] if after.rejected else "it does not verify"
            raise PolicyDenied(f"approval of plan {plan.id[:12]} refused: {reason}")
        self.store.statements.add(signed)
        if after.complete:
            self.store.set_plan_status(plan.id, "approved")
        return after

    def authorization(self, ref: str) -> Authorization:
        return plan_authorization(self.store, self.store.get_plan(ref), self.rule)

    def withdrawn_assets(self) -> BitMap:
        """Assets that recorded runs read and whose subjects have since withdrawn consent for that use."""
        out = BitMap()
        for review in review_runs(self.store, policy=self.policy, at=datetime.now(UTC)):
            out |= review.report.denied_by_reason.get("consent_withdrawn", BitMap())
        return out

    def reachability(self, ref: str) -> dict[str, Any]:
        """Which pending targets the storage configuration cannot reach, and what would fix it;
        (``by_hand``) those only their own system can delete (an MLflow model), which erasure skips;
        and (``unfolded``) captured runs whose events could not be folded into the catalog, so that
        no plan can include what they read or made."""
        plan = self.store.get_plan(ref)
        pending = list(self.store.targets(plan.id, states=("pending", "failed", "skipped")))
        return {
            **reach_report(unreachable(pending, self.storage)),
            "by_hand": by_hand_report(pending),
            "unfolded": self.unfolded(),
        }

    def unfolded(self) -> dict[str, Any]:
        held = self.store.pending_lineage()
        return {"count": held["failed_runs"], "examples": held["failures"]}

    def show(self, ref: str) -> dict[str, Any]:
        require(self.principal, "read")
        plan = self.store.get_plan(ref)
        try:
            auth = plan_authorization(self.store, plan, self.rule)
            authority: dict[str, Any] = {
                "requester": auth.requester,
                "approvers": auth.approvers,
                "required": auth.rule.required,
                "complete": auth.complete,
                "set_aside": auth.rejected,
            }
        except VerificationFailed as exc:
            authority = {
                "requester": None,
                "approvers": [],
                "required": self.rule.required,
                "complete": False,
                "error": exc.message,
            }
        return {
            "plan_id": plan.id,
            "status": plan.status,
            "scope": plan.scope,
            "reason": plan.reason,
            "legal_basis": plan.legal_basis,
            "deadline": plan.deadline,
            "requester": authority["requester"],
            "approvers": authority["approvers"],
            "authorization": authority,
            "counts": plan.counts,
            "survives": plan.survivors,
            "hooks": [
                {"deployment": t.uri, "hook": t.identity.get("hook")}
                for t in self.store.targets(plan.id, kinds=("deployment",))
            ],
            "journal": self.store.journal_counts(plan.id),
            "open_targets": [
                {"seq": t.seq, "kind": t.kind, "uri": t.uri, "state": t.state, "evidence": t.evidence}
                for t, _ in zip(
                    self.store.targets(plan.id, states=("skipped", "failed", "deleting")),
                    range(50),
                    strict=False,
                )
            ],
            "verification": self.store.verification(plan.id),
            "unreachable": self.reachability(plan.id),
            "recipients": self._recipients(plan.id),
        }

    def _recipients(self, plan_id: str) -> list[dict[str, Any]]:
        from disgorge.notices.status import recipient_status

        parties = [t.uri.removeprefix("party:") for t in self.store.targets(plan_id, kinds=("recipient",))]
        return recipient_status(self.store, plan_id, parties)[0]

    def run(
        self,
        ref: str,
        *,
        start: Signed | None = None,
        dry_run: bool = True,
        rehash: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExecutionReport:
        if not dry_run:
            require(self.principal, "erase.run")
        opts = ExecuteOptions(
            self.storage,
            self.notices_dir,
            dry_run=dry_run,
            rehash=rehash,
            notifier=self.notifier,
            host=self.host,
        )
        report = execute(self.store, ref, opts, start=start, rule=self.rule, progress=progress)
        if not dry_run and report.status == "done":
            flag_after_erasure(self.store, self.indexes, report.plan_id)
        return report

    def resolve(self, ref: str, seq: int, signed: Signed) -> dict[str, Any]:
        """Settle a skipped or failed target by an approver's signed statement (its reason goes on the
        certificate); the plan can then complete without pretending the target was carried out."""
        from disgorge.access import roster

        require(self.principal, "erase.resolve")
        plan = self.store.get_plan(ref)
        target = next((t for t in self.store.targets(plan.id) if t.seq == seq), None)
        if target is None:
            raise NotFoundError(
                f"plan {plan.id[:12]} has no target {seq}", hint="see `disgorge erase show PLAN`"
            )
        if target.state not in ("skipped", "failed"):
            raise UsageError(f"target {seq} is {target.state}: only skipped or failed targets are resolved")
        body = signed.body
        if signed.kind != "erasure.resolve" or signed.about != plan.id or body.get("target") != seq:
            raise VerificationFailed(f"not a resolution of target {seq} of plan {plan.id[:12]}")
        if not str(body.get("reason", "")).strip():
            raise UsageError("a resolution needs --reason: it goes on the certificate")
        from disgorge.trust import verify_signature

        verify_signature(signed, "the resolution")
        current = roster(self.store)
        member = current.active(signed.principal)
        if signed.statement["catalog"] != current.catalog:
            raise VerificationFailed("the resolution was made for another catalog (replayed)")
        if body.get("roster") != current.digest() or member is None or member.key != signed.key:
            raise VerificationFailed(f"{signed.principal!r} is not on the roster with that key")
        if "approver" not in member.roles:
            raise PolicyDenied(
                f"{signed.principal!r} does not hold the approver role: only an approver resolves"
            )
        self.store.statements.add(signed)
        self.store.mark_targets(
            [(target.id, "resolved", f"resolved by {signed.principal}: {body['reason']}")]
        )
        return {"plan_id": plan.id, "target": seq, "kind": target.kind, "resolved_by": signed.principal}

    def record_executed(self, ref: str, signed: Signed) -> None:
        """The executing person's signed statement that the execution ended, with its journal."""
        require(self.principal, "erase.run")
        plan = self.store.get_plan(ref)
        check_executor(self.store, plan, signed)
        if signed.body.get("journal") != self.store.journal_counts(plan.id):
            raise VerificationFailed("the signed end of execution does not state the plan's journal")
        self.store.statements.add(signed)

    def verify(self, ref: str, roots: list[str] | None = None) -> VerificationReport:
        require(self.principal, "erase.verify")
        return verify(self.store, ref, storage=self.storage, indexes=self.indexes, roots=roots)


def _lineage_settled(store: CatalogStore, wait: float = 5.0) -> None:
    """A plan must not miss a run a server has acknowledged: its folder folds pending events within a
    second, so wait for that, and refuse rather than plan without them."""
    import time

    deadline = time.monotonic() + wait
    while store.pending_lineage_top() is not None:
        if time.monotonic() > deadline:
            raise ConflictError(
                "OpenLineage events a server acknowledged are not folded into the catalog yet, so a "
                "plan made now could miss the runs and models they report",
                hint="run any disgorge command on this catalog (it folds them first), or in Python "
                "disgorge.capture.fold_pending(catalog.store), then plan again",
            )
        time.sleep(0.05)
