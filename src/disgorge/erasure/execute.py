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
from disgorge.storage.delta import delete_rows

DONE_STATES = ("done",)


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
    for n, t in enumerate(pending, 1):
        if t.kind == "catalog":
            continue
        state, evidence = _run_one(store, plan, t, opts)
        store.mark_target(t.id, state, evidence)
        report.steps[state] = report.steps.get(state, 0) + 1
        if state != "done":
            report.problems.append({"kind": t.kind, "uri": t.uri, "state": state, "evidence": evidence})
        if progress:
            progress(n, len(pending))
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


def _run_one(store: CatalogStore, plan: PlanInfo, t: TargetInfo, opts: ExecuteOptions) -> tuple[str, str]:
    try:
        if t.kind in ("copy", "model_copy", "artifact_copy"):
            ev = backend_for(t.uri, opts.storage).delete(t.uri, identity_of(t), rehash=opts.rehash)
            state = {"deleted": "done", "already_gone": "done", "skipped_changed": "skipped"}.get(
                ev.outcome, "failed"
            )
            return state, f"{ev.outcome}: {ev.detail}"
        if t.kind == "table_rows":
            if backend_for(t.uri, opts.storage).stat(t.uri) is None:  # refuses a table outside the roots
                return "failed", f"no table at {t.uri}"
            rows = delete_rows(t.uri, t.identity["column"], list(t.identity["values"]))
            return "done", json.dumps(rows.to_json(), sort_keys=True, default=str)
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
