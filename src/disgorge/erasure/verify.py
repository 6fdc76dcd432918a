"""Verifying an executed plan: every target is gone, and no exact or near copy of the erased content
remains under the scanned roots. The result is stored with the plan for its certificate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.erasure.targets import HANDLERS, Context
from disgorge.scan import Indexes, scan
from disgorge.storage import StorageConfig


@dataclass(slots=True)
class VerificationReport:
    plan_id: str
    at: str
    checked: dict[str, int] = field(default_factory=dict)
    remaining: list[dict[str, Any]] = field(default_factory=list)
    residual: list[dict[str, Any]] = field(default_factory=list)
    scanned: int = 0
    roots: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.remaining and not self.residual

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "at": self.at,
            "clean": self.clean,
            "checked": self.checked,
            "remaining": self.remaining,
            "residual": self.residual,
            "scanned": self.scanned,
            "roots": self.roots,
        }


def verify(
    store: CatalogStore,
    plan_ref: str,
    *,
    storage: StorageConfig,
    indexes: Indexes,
    roots: list[str] | None = None,
) -> VerificationReport:
    plan = store.get_plan(plan_ref)
    report = VerificationReport(plan.id, datetime.now(UTC).isoformat(), roots=list(roots or []))
    erased = store.plan_assets(plan.id)
    ctx = Context(store, plan, storage, Path())
    for t in store.targets(plan.id):
        report.checked[t.kind] = report.checked.get(t.kind, 0) + 1
        problem = HANDLERS[t.kind].remains(ctx, t, erased)
        if problem:
            report.remaining.append({"kind": t.kind, "uri": t.uri, "problem": problem})
    if roots:
        found = scan(store, indexes, roots, against="erased", storage=storage)
        report.scanned = found.scanned
        report.residual = [m for m in found.matches if m.get("erased_by_plan") == plan.id]
    store.save_verification(plan.id, report.to_json())
    return report
