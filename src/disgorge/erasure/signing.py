"""The erasure workflow as a person drives it: each step that is a statement is signed here, with the
person's own identity, before the service (local, or behind the server) verifies and records it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from disgorge.catalog.erasure import PlanInfo
from disgorge.erasure.execute import ExecutionReport
from disgorge.erasure.service import Erasures
from disgorge.erasure.verify import VerificationReport
from disgorge.errors import PolicyDenied
from disgorge.trust import Authorization, Identity, Signed, sign


@dataclass
class SignedErasures:
    service: Erasures
    identity: Identity | None

    def _sign(self, kind: str, about: str, body: dict[str, Any] | None = None) -> Signed:
        p = self.service.principal
        if not p.managed:
            raise PolicyDenied(
                "erasures are signed by the people who request, approve and run them, and this catalog has "
                "no roster yet",
                hint="create your identity (disgorge identity init NAME), then claim the catalog as its "
                "admin (disgorge init)",
            )
        if self.identity is None or p.key != self.identity.public_key:
            raise PolicyDenied(
                "this step is a statement signed with your identity, and none on the roster is loaded",
                hint="set DISGORGE_IDENTITY to your identity file",
            )
        from disgorge.access import roster

        current = roster(self.service.store)
        body = {**(body or {}), "roster": current.digest()}
        return sign(self.identity, kind, catalog=current.catalog, about=about, body=body)

    def plan(self, **kwargs: Any) -> tuple[PlanInfo, bool]:
        """Freeze a plan and sign its request (the plan id is the content address of its targets)."""
        plan, created = self.service.plan(**kwargs)
        if not self.service.store.statements.of_kinds(("erasure.request",), about=plan.id):
            signed = self._sign("erasure.request", plan.id, self.service.request_body(plan.id))
            plan = self.service.submit_request(plan.id, signed)
        return plan, created

    def resolve(self, ref: str, seq: int, reason: str) -> dict[str, Any]:
        plan = self.service.store.get_plan(ref)
        return self.service.resolve(
            plan.id, seq, self._sign("erasure.resolve", plan.id, {"target": seq, "reason": reason})
        )

    def approve(self, ref: str) -> Authorization:
        plan = self.service.store.get_plan(ref)
        return self.service.approve(plan.id, self._sign("erasure.approve", plan.id, {}))

    def run(
        self,
        ref: str,
        *,
        dry_run: bool = True,
        trust_metadata: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExecutionReport:
        """Dry-run, or (``dry_run=False``) execute, signing its start and end. Files and objects are
        re-checked by content hash before deletion unless ``trust_metadata`` (size, mtime, inode, ETag)."""
        rehash = not trust_metadata
        plan = self.service.store.get_plan(ref)
        start = None if dry_run else self._sign("erasure.execute", plan.id, {})
        report = self.service.run(plan.id, start=start, dry_run=dry_run, rehash=rehash, progress=progress)
        if not dry_run:
            body = {"status": report.status, "journal": self.service.store.journal_counts(plan.id)}
            self.service.record_executed(plan.id, self._sign("erasure.executed", plan.id, body))
        return report

    def show(self, ref: str) -> dict[str, Any]:
        return self.service.show(ref)

    def verify(self, ref: str, roots: list[str] | None = None) -> VerificationReport:
        return self.service.verify(ref, roots)

    def reachability(self, ref: str) -> dict[str, Any]:
        return self.service.reachability(ref)

    def authorization(self, ref: str) -> Authorization:
        return self.service.authorization(ref)
