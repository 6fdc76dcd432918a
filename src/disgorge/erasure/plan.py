"""Planning an erasure: freeze the downstream closure of a scope into an ordered, content-addressed
list of targets, each with the identity it must still have when the executor reaches it.

The plan id is the sha256 of the canonical JSON (RFC 8785) of the scope and every target in order, so
the same scope on the same catalog gives the same plan id. Order: deployments are taken down first,
then models and derived artifacts, then the data's copies and table rows, then datasets are rebuilt
without the erased members, recipients notified, and the catalog forgets last.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import CatalogStore
from disgorge.catalog.erasure import PlanInfo, TargetRow
from disgorge.catalog.schema import ArtifactCopy, Asset, Copy, Deployment
from disgorge.errors import NotFoundError, UsageError
from disgorge.hashing import canonical_json, canonical_row
from disgorge.lineage import Scope, impact

ORDER = (
    "deployment",
    "retrain",
    "model_copy",
    "artifact_copy",
    "copy",
    "table_rows",
    "storage_compact",
    "dataset",
    "recipient",
    "catalog",
)
ACTIONS = {
    "deployment": "take_down",
    "retrain": "retrain",
    "model_copy": "destroy",
    "artifact_copy": "delete",
    "copy": "delete",
    "table_rows": "delete_rows",
    "storage_compact": "compact",
    "dataset": "rebuild_without",
    "recipient": "notify",
    "catalog": "forget",
}


@dataclass(frozen=True, slots=True)
class PlanRequest:
    scope: Scope | None
    reason: str
    legal_basis: str
    requester: str
    deadline: str | None = None
    withdrawn: bool = False
    supplement_of: str | None = None
    """A plan whose closure grew since it was frozen: this one covers only what is new."""
    retrain: tuple[str, ...] = ()
    """Affected models to retrain rather than only destroy (each must have a retrainer's offer)."""


def file_identity(
    uri: str, sha256: str, size: int, mtime_ns: int | None, inode: int | None
) -> dict[str, Any]:
    """What a local file must still be when deleted: its bytes' hash, and size/mtime/inode as seen now.

    mtime_ns and inode are kept as decimal strings: they exceed the integers RFC 8785 JSON can carry."""
    ident: dict[str, Any] = {"sha256": sha256, "size": size, "mtime_ns": _dec(mtime_ns), "inode": _dec(inode)}
    if uri.startswith("file:///"):
        try:
            st = os.lstat(unquote(uri[7:]))
        except OSError:
            ident["seen"] = "absent"
            return ident
        if stat.S_ISREG(st.st_mode):
            ident.update(size=st.st_size, mtime_ns=str(st.st_mtime_ns), inode=str(st.st_ino))
        else:
            ident["seen"] = "not_a_regular_file"
    return ident


def s3_identity(sha256: str, size: int, etag: str | None, version_id: str | None) -> dict[str, Any]:
    """What an S3 copy must still be: its size and hash, and the ETag and version id seen when it was
    registered (a version id names immutable bytes, so erasure deletes by it without reading them)."""
    ident: dict[str, Any] = {"sha256": sha256, "size": size}
    if etag:
        ident["etag"] = etag
    if version_id:
        ident["version_ids"] = [version_id]
    return ident


def _dec(value: int | None) -> str | None:
    return None if value is None else str(value)


def split_table_uri(uri: str) -> tuple[str, str, str]:
    """``delta:///abs/table#column=value`` -> (table uri, column, value)."""
    base, _, fragment = uri.partition("#")
    column, eq, value = fragment.partition("=")
    if not eq:
        column, value = "asset_sha256", fragment
    return base, column, value


Target = tuple[str, str, dict[str, Any]]


def _bucket(uri: str) -> tuple[str, ...]:
    """The bucket an object (or a Delta table's files) of ``uri`` lives in, if it is on S3."""
    for prefix in ("s3://", "delta+s3://"):
        if uri.startswith(prefix):
            return (uri[len(prefix) :].split("/", 1)[0],)
    return ()


def _targets(store: CatalogStore, assets: BitMap, imp: Any, *, identities: bool = True) -> Iterator[Target]:
    """The closure's targets in no particular order; ``identities=False`` skips looking at files (what a
    staleness check needs is which targets exist, not their bytes)."""

    def ident(uri: str, sha: str, size: int, mtime_ns: int | None, inode: int | None) -> dict[str, Any]:
        if not identities:
            return {}
        return file_identity(uri, sha, size, mtime_ns, inode)

    with store.session() as s:
        model_ids = [m["id"] for m in imp.models]
        art_ids = [a["id"] for a in imp.artifacts]
        for dep in s.scalars(select(Deployment).where(Deployment.artifact_id.in_(model_ids + art_ids))):
            yield "deployment", dep.target, {"artifact_id": dep.artifact_id, "hook": dep.hook}
        shas = {m["id"]: m["sha256"] for m in [*imp.models, *imp.artifacts]}
        buckets: set[str] = set()  # every bucket an object is deleted from: each is compacted after
        for kind, ids in (("model_copy", model_ids), ("artifact_copy", art_ids)):
            for ac in s.scalars(
                select(ArtifactCopy).where(ArtifactCopy.artifact_id.in_(ids)).order_by(ArtifactCopy.uri)
            ):
                buckets.update(_bucket(ac.uri))
                yield kind, ac.uri, ident(ac.uri, shas[ac.artifact_id], ac.size, ac.mtime_ns, ac.inode)
        tables: dict[tuple[str, str], list[str]] = {}
        id_list = list(assets)
        for i in range(0, len(id_list), 900):
            chunk = id_list[i : i + 900]
            rows = s.execute(
                select(
                    Copy.uri, Asset.sha256, Copy.size, Copy.mtime_ns, Copy.inode, Copy.etag, Copy.version_id
                )
                .join(Asset, Copy.asset_id == Asset.id)
                .where(Copy.asset_id.in_(chunk))
            ).all()
            for uri, sha, size, mtime_ns, inode, etag, version_id in rows:
                if uri.startswith("delta://"):
                    table, column, value = split_table_uri(uri)
                    tables.setdefault((table, column), []).append(value)
                else:
                    buckets.update(_bucket(uri))
                    if uri.startswith("s3://"):
                        yield "copy", uri, s3_identity(sha, size, etag, version_id) if identities else {}
                        continue
                    yield "copy", uri, ident(uri, sha, size, mtime_ns, inode)
        for (table, column), values in sorted(tables.items()):
            yield "table_rows", table, {"column": column, "values": sorted(values)}
        for bucket in sorted(buckets):  # S3 deletes leave bytes in the store until it compacts
            yield "storage_compact", f"s3://{bucket}", {}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for d in imp.datasets:
        by_name.setdefault(d["name"], []).append(
            {"ref": d["ref"], "digest": d["digest"], "members": d["members"], "loses": d["loses"]}
        )
    for name, versions in sorted(by_name.items()):  # one rebuild per dataset, from its newest version
        yield "dataset", f"dataset:{name}", {"versions": versions}
    for party in imp.recipients:
        yield (
            "recipient",
            f"party:{party}",
            {"runs": sorted(r["name"] for r in imp.runs if r["party"] == party)},
        )
    yield "catalog", "catalog:assets", {"assets": len(assets), "subjects": imp.subject_count}


def build_plan(store: CatalogStore, req: PlanRequest, assets: BitMap | None = None) -> tuple[PlanInfo, bool]:
    """Freeze the closure of the request's scope (or of an explicit asset set) into a stored plan."""
    if req.supplement_of is not None:
        return _supplement(store, req)
    if req.scope is None and assets is None:
        raise UsageError("an erasure plan needs a scope")
    if req.scope is not None:
        imp = impact(store, req.scope)
        scope_doc = {"kind": req.scope.kind, "value": _scope_value(store, req.scope)}
    else:
        assert assets is not None
        imp = impact_of_assets(store, assets)
        scope_doc = {"kind": "withdrawn", "value": hashlib.sha256(bytes(assets.serialize())).hexdigest()}
    return _freeze(store, req, scope_doc, imp, list(_targets(store, imp.assets, imp)))


def _dispositions(store: CatalogStore, req: PlanRequest, imp: Any, raw: list[Target]) -> list[dict[str, Any]]:
    """Each retrainable model's two options with their costs, the chosen one marked; a retrain
    target added for each model the request chose to retrain. Models no retrainer offers for are
    destroyed (their copies are targets either way)."""
    from disgorge.erasure.retrain import offers, target_identity

    found = offers(store, imp.models, imp.assets)
    by_ref: dict[str, Any] = {}
    for o in found:
        by_ref[o.model] = by_ref[o.model_sha256] = o
    chosen = set()
    for ref in req.retrain:
        offer = by_ref.get(ref)
        if offer is None:
            named = ", ".join(o.model for o in found) or "none"
            raise UsageError(
                f"--retrain {ref}: not a model this erasure affects that can be retrained exactly "
                f"(retrainable here: {named})",
                hint="only SISA ensembles (disgorge.unlearning) are retrained; other models are destroyed",
            )
        if offer.model not in chosen:
            chosen.add(offer.model)
            raw.append(("retrain", f"model:{offer.model}", target_identity(offer)))
    return [
        {**o.to_json(), "disposition": "retrain" if o.model in chosen else "destroy"}
        for o in sorted(found, key=lambda o: o.model)
    ]


def _freeze(
    store: CatalogStore, req: PlanRequest, scope_doc: dict[str, Any], imp: Any, raw: list[Target]
) -> tuple[PlanInfo, bool]:
    ensembles = _dispositions(store, req, imp, raw)
    raw.sort(key=lambda t: (ORDER.index(t[0]), t[1]))
    digest = hashlib.sha256(canonical_json(scope_doc))
    rows: list[TargetRow] = []
    for seq, (kind, uri, identity) in enumerate(raw):
        action = ACTIONS[kind]
        digest.update(b"\n" + canonical_row([kind, action, uri], identity))
        rows.append((seq, kind, action, uri, identity))
    counts: dict[str, Any] = dict.fromkeys(ORDER, 0)
    for _, kind, _, _, _ in rows:
        counts[kind] += 1
    counts["assets"] = len(imp.assets)
    counts["subjects"] = imp.subject_count
    counts["table_rows_values"] = sum(len(r[4]["values"]) for r in rows if r[1] == "table_rows")
    counts["dataset_versions"] = sum(len(r[4]["versions"]) for r in rows if r[1] == "dataset")
    survivors = {
        "datasets": [{"ref": d["ref"], "remaining": d["members"] - d["loses"]} for d in imp.datasets],
        "models_not_affected": _unaffected_models(store, {m["id"] for m in imp.models}),
        "retrainable": ensembles,
    }
    return store.save_plan(
        plan_id=digest.hexdigest(),
        scope=scope_doc,
        reason=req.reason,
        legal_basis=req.legal_basis,
        deadline=req.deadline,
        requester=req.requester,
        counts=counts,
        survivors=survivors,
        assets=imp.assets,
        targets=rows,
    )


def _scope_value(store: CatalogStore, scope: Scope) -> str:
    """Subjects are named by keyed pseudonym in the plan, never in clear."""
    return store.hasher.subject(scope.value) if scope.kind == "subject" else scope.value


def _unaffected_models(store: CatalogStore, affected: set[int]) -> list[str]:
    from disgorge.catalog.schema import Artifact

    with store.session() as s:
        return sorted(
            a.name or a.sha256[:12]
            for a in s.scalars(select(Artifact).where(Artifact.kind == "model", Artifact.state == "active"))
            if a.id not in affected
        )


def impact_of_assets(store: CatalogStore, assets: BitMap) -> Any:
    """The closure of an explicit asset set (used for --withdrawn), via a temporary dataset-free path."""
    from disgorge.lineage.impact import Impact, closure_of

    return closure_of(store, Impact(Scope("asset", "<set>"), assets), None)


Key = tuple[str, ...]


def target_keys(raw: Iterable[tuple[str, str, dict[str, Any]]]) -> set[Key]:
    """What a target covers, independent of identities: an object, a table row, a dataset, a party."""
    keys: set[Key] = set()
    for kind, uri, identity in raw:
        if kind == "table_rows":
            keys.update(("table_rows", uri, str(v)) for v in identity.get("values", []))
        elif kind != "catalog":
            keys.add((kind, uri))
    return keys


def current_closure(store: CatalogStore, plan: PlanInfo) -> tuple[BitMap, Any]:
    """The plan's scope's closure as the catalog stands now (a plan's own frozen list aside)."""
    from disgorge.catalog.schema import Subject
    from disgorge.lineage.impact import Impact, closure_of

    kind, value = plan.scope["kind"], plan.scope["value"]
    if kind == "subject":
        with store.session() as s:
            sid = s.scalar(select(Subject.id).where(Subject.pseudonym == value))
            ids = BitMap(s.scalars(select(Asset.id).where(Asset.subject_id == sid))) if sid else BitMap()
        imp = closure_of(
            store, Impact(Scope("subject", value), ids), Asset.subject_id == sid if sid else None
        )
        return ids, imp
    if kind in ("source", "dataset", "asset"):
        try:
            imp = impact(store, Scope(kind, value))
        except NotFoundError:  # the source or dataset itself is gone: only the frozen assets remain
            imp = impact_of_assets(store, store.plan_assets(plan.id))
        return imp.assets, imp
    assets = store.plan_assets(plan.id)
    return assets, impact_of_assets(store, assets)


@dataclass(frozen=True, slots=True)
class Covered:
    """What a plan and its supplements cover: their frozen targets' keys and assets (these never change
    while the plans' paths are not yet forgotten, so one reading serves every check of an execution)."""

    plans: tuple[str, ...]
    keys: set[Key]
    assets: BitMap


@dataclass(frozen=True, slots=True)
class Staleness:
    new_targets: list[Key]
    new_assets: BitMap
    covered: Covered | None = None

    @property
    def stale(self) -> bool:
        return bool(self.new_targets or self.new_assets)

    def describe(self) -> str:
        parts = [f"{len(self.new_targets)} new targets"] if self.new_targets else []
        if self.new_assets:
            parts.append(f"{len(self.new_assets)} new assets in scope")
        examples = ", ".join(" ".join(k[:2]) for k in self.new_targets[:3])
        return ", ".join(parts) + (f" (e.g. {examples})" if examples else "")


def supplements(store: CatalogStore, plan_id: str) -> list[PlanInfo]:
    return [
        p
        for p in store.list_plans()
        if p.scope.get("kind") == "supplement" and p.scope.get("value") == plan_id
    ]


def _covered(store: CatalogStore, plans: list[PlanInfo]) -> Covered:
    planned: set[Key] = set()
    assets = BitMap()
    for p in plans:  # identities are read only where the key needs them (a table's rows)
        planned.update((k, u) for k, u in store.target_refs(p.id) if k not in ("table_rows", "catalog"))
        rows = store.targets(p.id, kinds=("table_rows",))
        planned |= target_keys((t.kind, t.uri, t.identity) for t in rows)
        assets |= store.plan_assets(p.id)
    return Covered(tuple(p.id for p in plans), planned, assets)


def staleness(store: CatalogStore, plan: PlanInfo, covered: Covered | None = None) -> Staleness:
    """What entered the plan's closure since it was frozen, not covered by the plan or its supplements;
    ``covered``: what an earlier check of the same plan read, reused while no supplement was added."""
    if plan.scope.get("kind") == "supplement":
        return Staleness([], BitMap())
    plans = [plan, *supplements(store, plan.id)]
    if covered is None or covered.plans != tuple(p.id for p in plans):
        covered = _covered(store, plans)
    assets, imp = current_closure(store, plan)
    current = target_keys(_targets(store, assets, imp, identities=False))
    return Staleness(sorted(current - covered.keys), assets - covered.assets, covered)


def _supplement(store: CatalogStore, req: PlanRequest) -> tuple[PlanInfo, bool]:
    """A plan covering only what entered a plan's closure since it was frozen (late copies, new models,
    new assets in scope), under the parent's order, for a new approval."""
    assert req.supplement_of is not None
    parent = store.get_plan(req.supplement_of)
    if parent.scope.get("kind") == "supplement":
        raise UsageError("supplement the original plan, not a supplement")
    gap = staleness(store, parent)
    if not gap.stale:
        raise UsageError(
            f"plan {parent.id[:12]} is not stale: nothing entered its closure since it was planned"
        )
    assets, imp = current_closure(store, parent)
    wanted = set(gap.new_targets)
    raw: list[Target] = []
    for kind, uri, identity in _targets(store, assets, imp):
        keys = target_keys([(kind, uri, identity)])
        if kind == "table_rows":
            values = [v for v in identity["values"] if ("table_rows", uri, str(v)) in wanted]
            if values:
                raw.append((kind, uri, {**identity, "values": values}))
        elif keys & wanted or (kind in ("dataset", "catalog") and gap.new_assets):
            raw.append((kind, uri, identity))
    new = impact_of_assets(store, gap.new_assets)
    new.datasets, new.models = imp.datasets, imp.models
    scope_doc = {"kind": "supplement", "value": parent.id}
    return _freeze(store, req, scope_doc, new, raw)
