"""Verifying an executed plan: every target is gone, and no exact or near copy of the erased content
remains under the scanned roots. The result is stored with the plan for its certificate, with its
coverage (roots, objects, bytes, matcher, radius): a verification is clean only if it scanned at least
every root where an earlier one found residues, and a certificate says plainly when no scan ran."""

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
    bytes: int = 0
    roots: list[str] = field(default_factory=list)
    radius: int = 31
    unscanned_residue_roots: list[str] = field(default_factory=list)
    """Roots where an earlier verification found residues that this one did not scan again."""

    @property
    def clean(self) -> bool:
        return not self.remaining and not self.residual and not self.unscanned_residue_roots

    def coverage(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "roots": self.roots,
            "objects": self.scanned,
            "bytes": self.bytes,
            "matcher": MATCHER,
            "radius": self.radius,
            "residual": len(self.residual),
        }

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
            "coverage": self.coverage() if self.roots else None,
            "unscanned_residue_roots": self.unscanned_residue_roots,
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
        report.roots = found.roots
        report.scanned, report.bytes, report.radius = found.scanned, found.bytes, found.radius
        report.residual = [m for m in found.matches if m.get("erased_by_plan") == plan.id]
    previous = store.verification(plan.id) or {}
    residue_roots = set(previous.get("residue_roots", []))
    residue_roots |= {root for m in report.residual for root in report.roots if _under(m["object"], root)}
    report.unscanned_residue_roots = sorted(r for r in residue_roots if r not in report.roots)
    scans = [*previous.get("scans", []), report.coverage()] if report.roots else previous.get("scans", [])
    store.save_verification(
        plan.id, {**report.to_json(), "residue_roots": sorted(residue_roots), "scans": scans}
    )
    return report


MATCHER = "sha256 + keyed sha256; PDQ of 8 dihedral forms and 2 centre crops, exact Hamming search"


def _under(uri: str, root: str) -> bool:
    from urllib.parse import unquote

    path = unquote(uri.removeprefix("file://")) if uri.startswith("file://") else uri
    return path == root or path.startswith(root.rstrip("/") + "/")
