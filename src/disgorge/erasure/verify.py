"""Verifying an executed plan: every target is gone, and no exact or near copy of the erased content
remains under the scanned roots. The result is stored with the plan for its certificate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import TargetInfo
from disgorge.scan import Indexes, scan
from disgorge.storage import StorageConfig, backend_for
from disgorge.storage.delta import DeltaStorage


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


def _target_remains(store: CatalogStore, t: TargetInfo, erased: Any, storage: StorageConfig) -> str | None:
    if t.kind in ("copy", "model_copy", "artifact_copy"):
        return "still present" if backend_for(t.uri, storage).exists(t.uri) else None
    if t.kind == "table_rows":
        table = backend_for(t.uri, storage)
        assert isinstance(table, DeltaStorage)
        problems = table.verify_rows_gone(t.uri, t.identity["column"], list(t.identity["values"]))
        return "; ".join(problems) or None
    if t.kind == "dataset":
        latest = store.get_dataset(t.uri.removeprefix("dataset:").split("@")[0])
        left = store.members(latest.id).intersection_cardinality(erased)
        return f"{latest.ref} still has {left} erased members" if left else None
    if t.kind == "catalog":
        left = store.assets_present(erased)
        return f"{left} erased assets still in the catalog" if left else None
    return None if t.state == "done" else f"journal says {t.state}: {t.evidence}"


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
    for t in store.targets(plan.id):
        report.checked[t.kind] = report.checked.get(t.kind, 0) + 1
        problem = _target_remains(store, t, erased, storage)
        if problem:
            report.remaining.append({"kind": t.kind, "uri": t.uri, "problem": problem})
    if roots:
        found = scan(store, indexes, roots, against="erased", storage=storage)
        report.scanned = found.scanned
        report.residual = [m for m in found.matches if m.get("erased_by_plan") == plan.id]
    store.save_verification(plan.id, report.to_json())
    return report
