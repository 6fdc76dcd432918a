"""Executing an approved plan: target by target, in plan order, journaled in the catalog.

Before each deletion the backend re-checks the target's identity; bytes that changed since planning are
skipped and reported, never deleted. Each outcome is journaled in its own transaction, and every action
is idempotent (an already-absent object is "already gone"), so a run killed at any point is resumed by
running it again, and nothing is touched twice. Only targets the approved plan lists are ever touched:
the stored target list is re-hashed against the plan id before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo, TargetInfo
from disgorge.errors import ConflictError, VerificationFailed
from disgorge.hashing import canonical_json
from disgorge.storage import Identity, StorageConfig, backend_for
from disgorge.storage.delta import DeltaStorage

OBJECT_KINDS = ("copy", "model_copy", "artifact_copy")
BATCH = 256
STATE_OF = {"deleted": "done", "already_gone": "done", "skipped_changed": "skipped"}


@dataclass(frozen=True, slots=True)
class ExecuteOptions:
    storage: StorageConfig
    notices_dir: Path
    dry_run: bool = True
    rehash: bool = False


@dataclass(slots=True)
class ExecutionReport:
    plan_id: str
    dry_run: bool
    status: str
    steps: dict[str, int] = field(default_factory=dict)
    journal: dict[str, dict[str, int]] = field(default_factory=dict)
    would_do: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "steps": self.steps,
            "journal": self.journal,
            "would_do": self.would_do,
            "problems": self.problems,
        }


def verify_frozen(store: CatalogStore, plan: PlanInfo) -> None:
    """Refuse to run a plan whose stored targets no longer hash to its id (edited after approval)."""
    digest = hashlib.sha256(canonical_json(plan.scope))
    for t in store.targets(plan.id):
        digest.update(b"\n" + canonical_json([t.kind, t.action, t.uri, t.identity]))
    if digest.hexdigest() != plan.id:
        raise VerificationFailed(
            f"plan {plan.id[:12]}: its stored targets do not match its id; refusing to execute",
            hint="the catalog was edited after approval; plan again and have the new plan approved",
        )


def identity_of(t: TargetInfo) -> Identity:
    i = t.identity

    def num(key: str) -> int | None:
        return None if i.get(key) is None else int(i[key])

    return Identity(
        size=int(i.get("size") or 0), mtime_ns=num("mtime_ns"), inode=num("inode"), sha256=i.get("sha256")
    )


def execute(
    store: CatalogStore,
    plan_ref: str,
    opts: ExecuteOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ExecutionReport:
    plan = store.get_plan(plan_ref)
    if plan.status not in ("approved", "running", "incomplete", "done"):
        raise ConflictError(
            f"plan {plan.id[:12]} is {plan.status}, not approved",
            hint=f"a second person approves it first: disgorge erase approve {plan.id[:12]} --as NAME",
        )
    verify_frozen(store, plan)
    report = ExecutionReport(plan.id, opts.dry_run, plan.status)
    pending = list(store.targets(plan.id, states=("pending", "failed", "skipped")))
    if opts.dry_run:
        for t in pending:
            report.steps[t.kind] = report.steps.get(t.kind, 0) + 1
            if len(report.would_do) < 50:
                report.would_do.append({"kind": t.kind, "action": t.action, "uri": t.uri})
        report.journal = store.journal_counts(plan.id)
        return report
    store.set_plan_status(plan.id, "running")
    done = 0
    work = [t for t in pending if t.kind != "catalog"]
    i = 0
    while i < len(work):
        t = work[i]
        if t.kind in OBJECT_KINDS:  # consecutive object deletions go to the backend as one batch
            j = i
            while (
                j < len(work)
                and j - i < BATCH
                and work[j].kind in OBJECT_KINDS
                and _scheme(work[j]) == _scheme(t)
            ):
                j += 1
            outcomes = _delete_batch(work[i:j], opts)
        else:
            j = i + 1
            state, evidence = _run_one(store, plan, t, opts)
            outcomes = [(t, state, evidence)]
        store.mark_targets([(x.id, st, ev) for x, st, ev in outcomes])
        for x, st, ev in outcomes:
            report.steps[st] = report.steps.get(st, 0) + 1
            if st != "done":
                report.problems.append({"kind": x.kind, "uri": x.uri, "state": st, "evidence": ev})
        done += j - i
        i = j
        if progress:
            progress(done, len(work))
    store.log_event(
        "erasure_execution", {"plan_id": plan.id, "outcomes": report.steps, "targets": len(pending)}
    )
    journal = store.journal_counts(plan.id)
    unfinished = sum(
        n
        for kind, states in journal.items()
        if kind != "catalog"
        for state, n in states.items()
        if state != "done"
    )
    catalog_target = next(
        (t for t in store.targets(plan.id, states=("pending", "failed")) if t.kind == "catalog"), None
    )
    if unfinished == 0 and catalog_target is not None:
        counts = store.forget_assets(plan.id, store.plan_assets(plan.id))
        store.mark_target(catalog_target.id, "done", json.dumps(counts, sort_keys=True))
    journal = store.journal_counts(plan.id)
    finished = all(state == "done" for states in journal.values() for state in states)
    store.set_plan_status(plan.id, "done" if finished else "incomplete")
    report.status = "done" if finished else "incomplete"
    report.journal = journal
    return report


def _scheme(t: TargetInfo) -> str:
    return t.uri.split(":", 1)[0]


def _delete_batch(batch: list[TargetInfo], opts: ExecuteOptions) -> list[tuple[TargetInfo, str, str]]:
    """Delete a batch through its backend (local folders are fsynced once per batch); one evidence each."""
    try:
        backend = backend_for(batch[0].uri, opts.storage)
        evidence = list(backend.delete_many(((t.uri, identity_of(t)) for t in batch), rehash=opts.rehash))
    except Exception as exc:
        return [(t, "failed", f"{type(exc).__name__}: {exc}") for t in batch]
    return [
        (t, STATE_OF.get(ev.outcome, "failed"), f"{ev.outcome}: {ev.detail}")
        for t, ev in zip(batch, evidence, strict=True)
    ]


def _run_one(store: CatalogStore, plan: PlanInfo, t: TargetInfo, opts: ExecuteOptions) -> tuple[str, str]:
    try:
        if t.kind == "table_rows":
            table = backend_for(t.uri, opts.storage)  # confined to the storage roots, with S3 credentials
            assert isinstance(table, DeltaStorage)
            rows = table.delete_rows(t.uri, t.identity["column"], list(t.identity["values"]))
            return "done", json.dumps(rows.to_json(), sort_keys=True, default=str)
        if t.kind == "storage_compact":
            compact = getattr(backend_for(t.uri, opts.storage), "compact", None)
            if compact is None:
                return "done", "nothing to compact"
            result = compact(bucket=t.uri.removeprefix("s3://").split("/", 1)[0])
            return "done", json.dumps(result.to_json(), sort_keys=True, default=str)
        if t.kind == "dataset":
            return _rebuild_dataset(store, plan, t)
        if t.kind == "deployment":
            return _take_down(t)
        if t.kind == "recipient":
            return _notify(store, plan, t, opts.notices_dir)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"
    return "failed", f"unknown target kind {t.kind}"


def _rebuild_dataset(store: CatalogStore, plan: PlanInfo, t: TargetInfo) -> tuple[str, str]:
    ref = t.uri.removeprefix("dataset:")
    old = store.get_dataset(ref)
    remaining = store.members(old.id) - store.plan_assets(plan.id)
    new, _ = store.create_dataset(
        old.name, remaining, derived_from=old.id, query=f"erasure plan {plan.id[:12]}"
    )
    return "done", f"rebuilt as {new.ref} with {new.member_count} members (digest {new.digest[:16]})"


def _take_down(t: TargetInfo) -> tuple[str, str]:
    hook = t.identity.get("hook")
    if not hook:
        return "skipped", "no takedown hook configured: take it down by hand, then re-run"
    if hook.startswith(("http://", "https://")):
        body = json.dumps({"action": "take_down", "target": t.uri}).encode()
        req = urllib.request.Request(
            hook, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return (
                ("done", f"hook answered {resp.status}")
                if resp.status < 300
                else ("failed", f"hook {resp.status}")
            )
    proc = subprocess.run(
        shlex.split(hook),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DISGORGE_DEPLOYMENT": t.uri},
    )
    if proc.returncode != 0:
        return "failed", f"hook exited {proc.returncode}: {proc.stderr.strip()[:200]}"
    return "done", f"hook ran: {proc.stdout.strip()[:200]}"


def _notify(store: CatalogStore, plan: PlanInfo, t: TargetInfo, notices_dir: Path) -> tuple[str, str]:
    """Write the recipient's notice (GDPR Art. 19, CCPA §7022): what it must delete, by content hash."""
    party = t.uri.removeprefix("party:")
    notices_dir.mkdir(parents=True, exist_ok=True)
    path = notices_dir / f"{plan.id[:16]}-{hashlib.sha256(party.encode()).hexdigest()[:12]}.json"
    doc = {
        "plan_id": plan.id,
        "recipient": party,
        "legal_basis": plan.legal_basis,
        "reason": plan.reason,
        "deadline": plan.deadline,
        "runs": t.identity.get("runs", []),
        "delete": "every copy of the data received for these runs and every model or artifact made from it",
    }
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return "done", f"notice written to {path}"
