"""Executing an approved plan: phase by phase, target by target, journaled in the catalog.

Before each deletion the backend re-checks the target's identity; bytes that changed since planning are
skipped and reported, never deleted. Each outcome is journaled, and every action is idempotent (an
already-absent object is "already gone"), so a run killed at any point is resumed by running it again,
and nothing is touched twice. Only targets the approved plan lists are ever touched: the stored target
list is re-hashed against the plan id before anything runs, and a plan with targets no storage root or
endpoint can reach does not start at all. Phases (:data:`~disgorge.erasure.targets.PHASES`) start only
when everything they depend on is done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgorge.access.plans import check_executor, plan_authorization, require_authorized
from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo, TargetInfo
from disgorge.erasure.plan import staleness, supplements
from disgorge.erasure.targets import (
    HANDLERS,
    PHASES,
    Context,
    Outcome,
    Unreachable,
    reach_report,
    unreachable,
)
from disgorge.errors import ConflictError, VerificationFailed
from disgorge.hashing import canonical_json, canonical_row
from disgorge.notices import Notifier
from disgorge.storage import StorageConfig
from disgorge.trust import ApprovalRule, Signed

BATCH = 4096
"""Targets journaled (intent, then outcome) per transaction; a crash leaves at most this many to re-check.
A batch of local files spans several folders, deleted from by several threads at once."""
PENDING = ("pending", "deleting", "failed", "skipped")
FINISHED = ("done", "resolved")
"""A resolved target was settled by an approver's signed statement (erase resolve), not carried out."""


@dataclass(frozen=True, slots=True)
class ExecuteOptions:
    storage: StorageConfig
    notices_dir: Path
    dry_run: bool = True
    rehash: bool = False
    notifier: Notifier | None = None
    host: Any = None
    """The facade running the erasure, for retrain targets (see disgorge.erasure.retrain)."""


@dataclass(slots=True)
class ExecutionReport:
    plan_id: str
    dry_run: bool
    status: str
    steps: dict[str, int] = field(default_factory=dict)
    journal: dict[str, dict[str, int]] = field(default_factory=dict)
    would_do: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    """Phases not started because something they depend on is not done."""
    stale: str | None = None
    """What entered the plan's closure since it was planned, if anything."""
    authorization: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "steps": self.steps,
            "journal": self.journal,
            "would_do": self.would_do,
            "problems": self.problems,
            "unreachable": reach_report(self.unreachable),
            "held": self.held,
            "stale": self.stale,
            "authorization": self.authorization,
        }


def verify_frozen(store: CatalogStore, plan: PlanInfo, targets: list[TargetInfo] | None = None) -> None:
    """Refuse to run a plan whose stored targets no longer hash to its id (edited after approval);
    ``targets``: all of them, already read (the executor runs exactly the rows it verified)."""
    digest = hashlib.sha256(canonical_json(plan.scope))
    for t in store.targets(plan.id) if targets is None else targets:
        digest.update(b"\n" + canonical_row([t.kind, t.action, t.uri], t.identity))
    if digest.hexdigest() != plan.id:
        raise VerificationFailed(
            f"plan {plan.id[:12]}: its stored targets do not match its id; refusing to execute",
            hint="the catalog was edited after approval; plan again and have the new plan approved",
        )


def execute(
    store: CatalogStore,
    plan_ref: str,
    opts: ExecuteOptions,
    *,
    start: Signed | None = None,
    rule: ApprovalRule | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExecutionReport:
    """Run (or, by default, dry-run) a plan. The executor authorises itself only from signatures: the
    plan's signed request and approvals, verified against the roster as of each signature, and the
    executing person's signed ``start`` statement; no status column counts."""
    plan = store.get_plan(plan_ref)
    every = list(store.targets(plan.id))  # read once: verified, then run
    if not store.is_redacted(plan.id):  # once its paths are forgotten, the plan has nothing left to run
        verify_frozen(store, plan, every)
    report = ExecutionReport(plan.id, opts.dry_run, plan.status)
    if opts.dry_run:
        try:
            auth = plan_authorization(store, plan, rule)
            report.authorization = {
                "complete": auth.complete,
                "requester": auth.requester,
                "approvers": auth.approvers,
                "required": auth.rule.required,
                "rejected": auth.rejected,
            }
        except VerificationFailed as exc:
            report.authorization = {"complete": False, "error": exc.message}
    else:
        auth = require_authorized(store, plan, rule)
        if start is None:
            raise VerificationFailed(
                f"plan {plan.id[:12]}: executing needs an erasure.execute statement signed by the person running it"
            )
        check_executor(store, plan, start)
        report.authorization = {"complete": True, "requester": auth.requester, "approvers": auth.approvers}
    pending = [t for t in every if t.state in PENDING]
    del every
    report.unreachable = unreachable(pending, opts.storage)
    gap = staleness(store, plan) if pending else None
    if gap is not None and gap.stale:
        report.stale = gap.describe()
    if opts.dry_run:
        for t in pending:
            report.steps[t.kind] = report.steps.get(t.kind, 0) + 1
            if len(report.would_do) < 50:
                report.would_do.append({"kind": t.kind, "action": t.action, "uri": t.uri})
        report.journal = store.journal_counts(plan.id)
        return report
    if report.unreachable:
        raise ConflictError(
            f"plan {plan.id[:12]}: {len(report.unreachable)} targets are out of reach of the storage "
            "configuration; nothing was done",
            hint="register the storage roots (or S3 endpoint) the dry run names, then run again",
        )
    if gap is not None and gap.stale and not _any_deleted(store, plan.id):
        raise ConflictError(
            f"plan {plan.id[:12]} is stale: {gap.describe()} entered its closure since it was planned; "
            "nothing was done",
            hint=f"cover them with a supplement under a new approval: disgorge erase plan --supplement {plan.id[:12]} …",
        )
    assert start is not None
    store.statements.add(start)
    store.set_plan_status(plan.id, "running")
    ctx = Context(store, plan, opts.storage, opts.notices_dir, opts.rehash, opts.notifier, opts.host)
    done = 0
    total = len(pending)
    for name, kinds, requires in PHASES:
        work = sorted((t for t in pending if t.kind in kinds), key=_run_order)
        if not work:
            continue
        blocking = _not_done(store, plan.id, requires)
        if not blocking and "catalog" in kinds:
            # again before the catalog forgets: nothing may be left unplanned
            late = staleness(store, plan, gap.covered if gap is not None else None)
            if late.stale:
                report.stale = late.describe()
                blocking = {
                    "a supplement plan (the closure grew)": len(late.new_targets) + len(late.new_assets)
                }
            for sup in supplements(store, plan.id):  # nor planned but not yet carried out
                counts = store.journal_counts(sup.id).values()
                left = sum(n for states in counts for st, n in states.items() if st not in FINISHED)
                if left:
                    blocking[f"supplement {sup.id[:12]}"] = left
        if blocking:
            report.held.append({"phase": name, "targets": len(work), "waiting_for": blocking})
            continue
        for batch in _batches(work):
            if HANDLERS[batch[0].kind].storage_uri(batch[0]) is not None:  # intent first, then the act
                store.mark_targets(
                    [(t.id, "deleting", "intent to delete journaled") for t in batch], attempt=False
                )
            outcomes = HANDLERS[batch[0].kind].run(ctx, batch)
            _journal(store, report, outcomes)
            done += len(batch)
            if progress:
                progress(done, total)
    store.log_event(
        "erasure_execution",
        {"plan_id": plan.id, "outcomes": report.steps, "targets": len(pending), "held": len(report.held)},
    )
    journal = store.journal_counts(plan.id)
    finished = all(state in FINISHED for states in journal.values() for state in states)
    store.set_plan_status(plan.id, "done" if finished else "incomplete")
    report.status = "done" if finished else "incomplete"
    report.journal = journal
    return report


def _run_order(t: TargetInfo) -> tuple[bool, bool]:
    """Within a phase, object-store copies go first and compaction last: the store's asynchronous
    deletions then land while the local files are unlinked, not while compaction waits for them
    (the targets are independent deletions; only compaction depends on the others)."""
    return t.kind == "storage_compact", not t.uri.startswith("s3://")


def _not_done(store: CatalogStore, plan_id: str, kinds: tuple[str, ...]) -> dict[str, int]:
    """Targets of ``kinds`` that are not done yet, counted by kind."""
    out: dict[str, int] = {}
    for kind, states in store.journal_counts(plan_id).items():
        if kind in kinds:
            n = sum(c for state, c in states.items() if state not in FINISHED)
            if n:
                out[kind] = n
    return out


def _any_deleted(store: CatalogStore, plan_id: str) -> bool:
    return any(
        kind != "catalog" and any(st in FINISHED or st == "deleting" for st in states)
        for kind, states in store.journal_counts(plan_id).items()
    )


def _batches(work: list[TargetInfo]) -> list[list[TargetInfo]]:
    """Consecutive targets of one kind (and, for batched kinds, one URI scheme), at most BATCH each."""
    out: list[list[TargetInfo]] = []
    for t in work:
        last = out[-1] if out else None
        if (
            last is not None
            and HANDLERS[t.kind].batched
            and last[0].kind == t.kind
            and len(last) < BATCH
            and last[0].uri.split(":", 1)[0] == t.uri.split(":", 1)[0]
        ):
            last.append(t)
        else:
            out.append([t])
    return out


def _journal(store: CatalogStore, report: ExecutionReport, outcomes: list[Outcome]) -> None:
    store.mark_targets([(x.id, st, ev) for x, st, ev in outcomes])
    for x, st, ev in outcomes:
        report.steps[st] = report.steps.get(st, 0) + 1
        if st != "done":
            report.problems.append({"kind": x.kind, "uri": x.uri, "state": st, "evidence": ev})
