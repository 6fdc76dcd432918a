"""A model's data bill of materials: everything upstream of it, down to sources and subjects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import CatalogStore
from disgorge.catalog.graph import upstream
from disgorge.catalog.members import member_rows
from disgorge.catalog.schema import Artifact, Asset, Dataset, Run


@dataclass(slots=True)
class BillOfMaterials:
    model: dict[str, Any]
    parents: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    subject_count: int = 0
    asset_count: int = 0
    categories: list[str] = field(default_factory=list)
    derived_from_assets: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "parents": self.parents,
            "runs": self.runs,
            "datasets": self.datasets,
            "sources": self.sources,
            "subject_count": self.subject_count,
            "asset_count": self.asset_count,
            "categories": self.categories,
        }


def bom_from_json(body: dict[str, Any]) -> BillOfMaterials:
    """A bill of materials read back from its JSON (what a server sends)."""
    keys = ("parents", "runs", "datasets", "sources", "subject_count", "asset_count", "categories")
    return BillOfMaterials(dict(body["model"]), **{k: body[k] for k in keys if k in body})


def bill_of_materials(store: CatalogStore, model_ref: str) -> BillOfMaterials:
    """Upstream closure of a model: parent models by every typed link, the runs that made them, the exact
    dataset versions they read, and from those the sources, subjects, data categories and consent basis."""
    art = store.resolve_artifact(model_ref)
    bom = BillOfMaterials({"name": art.name, "kind": art.kind, "sha256": art.sha256, "uris": list(art.uris)})
    members = BitMap()
    with store.session() as s:
        edges = upstream(s, [("artifact", art.id)])
        run_uses: dict[int, str] = {}
        dataset_ids: set[int] = set()
        for (pk, pid), (ck, cid), rel in edges:
            if pk == "artifact" and ck == "artifact":
                parent = s.get(Artifact, pid)
                child = s.get(Artifact, cid)
                if parent is not None and child is not None:
                    bom.parents.append(
                        {
                            "name": parent.name,
                            "kind": parent.kind,
                            "sha256": parent.sha256,
                            "relation": rel,
                            "child": child.name or child.sha256[:12],
                        }
                    )
            elif pk == "artifact" and ck == "run":
                parent = s.get(Artifact, pid)
                if parent is not None and parent.kind == "model":
                    bom.parents.append(
                        {
                            "name": parent.name,
                            "kind": parent.kind,
                            "sha256": parent.sha256,
                            "relation": "input",
                            "child": f"run:{cid}",
                        }
                    )
            elif pk == "dataset":
                dataset_ids.add(pid)
            elif pk == "asset":
                members.add(pid)
                bom.derived_from_assets += 1
            if ck == "run":
                run_uses[cid] = ""
        for run in s.scalars(select(Run).where(Run.id.in_(list(run_uses)))):
            bom.runs.append({"uid": run.uid, "name": run.name, "use": run.use, "party": run.party})
        uses = {r["use"] for r in bom.runs}
        categories: set[str] = set()
        for d in s.scalars(
            select(Dataset).where(Dataset.id.in_(sorted(dataset_ids))).order_by(Dataset.name, Dataset.version)
        ):
            bom.datasets.append(
                {"ref": f"{d.name}@{d.version}", "digest": d.digest, "members": d.member_count}
            )
            categories.update(d.stats.get("categories", []))
    for did in sorted(dataset_ids):
        members |= store.members(did)
    bom.asset_count = len(members)
    per_source: dict[int, int] = {}
    subjects: set[int] = set()
    with store.session() as s:
        for _, source_id, subject_id, cats in member_rows(
            s, members, [Asset.source_id, Asset.subject_id, Asset.categories]
        ):
            per_source[source_id] = per_source.get(source_id, 0) + 1
            if subject_id is not None:
                subjects.add(subject_id)
            categories.update(cats or ())
    bom.subject_count = len(subjects)
    bom.categories = sorted(categories)
    by_id = {src.id: src for src in store.list_sources()}
    for source_id, count in sorted(per_source.items()):
        src = by_id[source_id]
        bom.sources.append(
            {
                "name": src.name,
                "assets": count,
                "legal_basis": src.legal_basis,
                "notice_version": src.notice_version,
                "notice_uses": list(src.uses),
                "uses_covered_by_notice": {u: u in src.uses for u in sorted(uses)},
            }
        )
    typed = {p["sha256"] for p in bom.parents if p["relation"] != "input"}
    bom.parents = [p for p in bom.parents if p["relation"] != "input" or p["sha256"] not in typed]
    bom.parents.sort(key=lambda p: (p["relation"], p["name"] or "", p["sha256"]))
    bom.runs.sort(key=lambda r: (r["name"], r["uid"]))
    return bom
