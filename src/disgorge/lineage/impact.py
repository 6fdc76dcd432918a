"""Impact: the whole downstream closure of a scope (subject, source, dataset or asset).

Asset sets are roaring bitmaps; affected datasets are found by bitmap intersection (and each one's
loss counted exactly); runs, models and derived artifacts by one recursive CTE seeded with the
affected datasets and assets; deployments and recipients follow from those.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from disgorge.catalog import CatalogStore
from disgorge.catalog.graph import Node
from disgorge.catalog.impact_rows import catalog_stamp, dataset_rows, few_assets, report_rows
from disgorge.catalog.members import member_rows
from disgorge.catalog.schema import (
    Asset,
    Copy,
    Dataset,
    Edge,
    Source,
    Subject,
)
from disgorge.catalog.stamps import ledger_tops
from disgorge.errors import UsageError

if TYPE_CHECKING:
    from disgorge.catalog.lineage_graph import LineageGraph

ScopeKind = Literal["subject", "source", "dataset", "asset"]
SCOPE_KINDS = ("ingest_batch", "subject_attribution", "assets_forgotten", "source")
"""The ledger events appended with every change to assets, their copies and subjects, and sources."""
IN_CHUNK = 900


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.kind != "subject" else "subject:<pseudonymised>"


@dataclass(slots=True)
class Impact:
    scope: Scope
    assets: BitMap
    subject_count: int = 0
    copy_count: int = 0
    copies: list[str] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    unknown_subject_assets: dict[str, int] = field(default_factory=dict)
    """Per source the scope touches, its assets with no known subject: an erasure by subject cannot
    find them, so a person asking "what of mine is there?" must be told they exist."""

    asset_count: int | None = None
    """Set where the asset ids are not here (an answer read from a server)."""

    def counts(self) -> dict[str, int]:
        return {
            "assets": len(self.assets) if self.asset_count is None else self.asset_count,
            "subjects": self.subject_count,
            "copies": self.copy_count,
            "datasets": len(self.datasets),
            "runs": len(self.runs),
            "models": len(self.models),
            "artifacts": len(self.artifacts),
            "deployments": len(self.deployments),
            "recipients": len(self.recipients),
        }

    def to_json(self, *, asset_shas: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"scope": str(self.scope), "counts": self.counts()}
        if asset_shas is not None:
            out["assets"] = asset_shas
        out.update(
            copies=self.copies,
            copies_truncated=len(self.copies) < self.copy_count,
            datasets=self.datasets,
            runs=self.runs,
            models=self.models,
            artifacts=self.artifacts,
            deployments=self.deployments,
            recipients=self.recipients,
            unknown_subject_assets=sum(self.unknown_subject_assets.values()),
            unknown_subject_by_source=self.unknown_subject_assets,
        )
        return out


def impact_from_json(body: dict[str, Any]) -> Impact:
    """An impact answer read back from its JSON (what a server sends); asset ids stay on the server."""
    kind, _, value = str(body["scope"]).partition(":")
    c = body.get("counts", {})
    return Impact(
        Scope(kind, value),  # type: ignore[arg-type]
        BitMap(),
        subject_count=int(c.get("subjects", 0)),
        copy_count=int(c.get("copies", 0)),
        copies=list(body.get("copies", [])),
        datasets=list(body.get("datasets", [])),
        runs=list(body.get("runs", [])),
        models=list(body.get("models", [])),
        artifacts=list(body.get("artifacts", [])),
        deployments=list(body.get("deployments", [])),
        recipients=list(body.get("recipients", [])),
        unknown_subject_assets=dict(body.get("unknown_subject_by_source", {})),
        asset_count=int(c.get("assets", 0)),
    )


def scope_assets(store: CatalogStore, scope: Scope) -> tuple[BitMap, ColumnElement[bool] | None]:
    """The scope's asset ids, and an SQL predicate over ``assets`` selecting the same set if one exists."""
    with store.reading() as s:
        if scope.kind == "subject":
            # the subject's row id as a subquery: one round trip for the ids; the lookup that says why
            # (never ingested, or every asset of theirs erased) runs only when none is found
            sid = (
                select(Subject.id)
                .where(Subject.pseudonym == store.hasher.subject(scope.value))
                .scalar_subquery()
            )
            pred = Asset.subject_id == sid
        elif scope.kind == "source":
            pred = Asset.source_id == store.get_source(scope.value).id
        elif scope.kind == "asset":
            pred = Asset.id == store.resolve_asset(scope.value)
        elif scope.kind == "dataset":
            return BitMap(store.members(store.get_dataset(scope.value).id)), None
        else:
            raise UsageError(f"unknown scope kind {scope.kind!r}")
        assets = _ids(s, pred)
        if not assets and scope.kind == "subject":
            pred = Asset.subject_id == store.subject_id(scope.value)  # NotFoundError if never ingested
        return assets, pred


def _ids(s: Session, pred: ColumnElement[bool]) -> BitMap:
    """The ids of the assets ``pred`` selects, fetched as the driver's bare tuples (3M of them through
    SQLAlchemy's rows took twice as long)."""
    rows = s.connection().execute(select(Asset.id).where(pred).order_by(Asset.id))
    return BitMap(array("I", [i for (i,) in rows.cursor.fetchall()]))


def impact(store: CatalogStore, scope: Scope, *, copy_limit: int = 1000) -> Impact:
    """Everything downstream of ``scope``, read in one session (one connection, one transaction)."""
    with store.reading():
        if scope.kind in ("subject", "asset"):
            found = _few_assets_impact(store, scope, copy_limit)
            if found is not None:
                return found
        if scope.kind == "source":
            return _source_impact(store, scope, copy_limit)
        assets, pred = scope_assets(store, scope)
        result = closure_of(store, Impact(scope, assets), pred, copy_limit=copy_limit)
        result.unknown_subject_assets = unknown_subjects(store, assets, pred)
    return result


def _few_assets_impact(store: CatalogStore, scope: Scope, copy_limit: int) -> Impact | None:
    """A subject's or one asset's impact from one statement (two when artifacts are reached), or None
    where the scope holds no asset (the general path then says why: never ingested, or erased)."""
    with store.reading() as s:
        if scope.kind == "subject":
            rows = few_assets(s, pseudonym=store.hasher.subject(scope.value))
        else:
            rows = few_assets(s, asset_id=store.resolve_asset(scope.value))
        if not rows.assets:
            return None
        result = Impact(scope, BitMap(rows.assets), subject_count=len(rows.subjects))
        result.copy_count = len(rows.copies)
        result.copies = [uri for _, uri in rows.copies[:copy_limit]]
        result.unknown_subject_assets = dict(sorted(rows.unknown_subjects.items()))
        meta = dataset_rows(s, store.__dict__.setdefault("_dataset_rows", {}), rows.dataset_stamp)
        seeds = _datasets_losing(store, result, meta)
        graph = store.lineage_graph(s, top=rows.edge_top)
        _walk(store, s, result, graph, seeds, rows.asset_artifacts, rows.artifact_stamp)
    return result


def _source_impact(store: CatalogStore, scope: Scope, copy_limit: int) -> Impact:
    """A source's impact. Its assets, subject and copy counts and first copies, and its assets of no
    known subject are counted over all of the source's rows (seconds at 3M), so the store keeps them
    while no event that changes assets, copies or sources was appended (``catalog/stamps.py``)."""
    with store.reading() as s:
        source_id = store.get_source(scope.value).id
        pred = Asset.source_id == source_id
        tops = ledger_tops(s)  # before the rows it guards
        stamp = tuple(tops[k] for k in SCOPE_KINDS)
        cache: dict[tuple[int, int], tuple[tuple[int, ...], Impact]]
        cache = store.__dict__.setdefault("_source_rows", {})
        kept = cache.get((source_id, copy_limit))
        if kept is None or kept[0] != stamp:
            rows = _source_rows(s, scope, pred, copy_limit)
            rows.unknown_subject_assets = unknown_subjects(store, rows.assets, pred)
            kept = cache[(source_id, copy_limit)] = (stamp, rows)
        rows = kept[1]
        result = Impact(
            scope,
            BitMap(rows.assets),
            subject_count=rows.subject_count,
            copy_count=rows.copy_count,
            copies=list(rows.copies),
            unknown_subject_assets=dict(rows.unknown_subject_assets),
        )
        _downstream(store, s, result, pred)
    return result


def _source_rows(s: Session, scope: Scope, pred: ColumnElement[bool], copy_limit: int) -> Impact:
    """A source's assets and subject count from one pass over its rows, and its copies."""
    rows = s.connection().execute(select(Asset.id, Asset.subject_id).where(pred).order_by(Asset.id))
    pairs = rows.cursor.fetchall()
    result = Impact(scope, BitMap(array("I", [a for a, _ in pairs])))
    result.subject_count = len({subject for _, subject in pairs if subject is not None})
    del pairs
    result.copy_count, result.copies = _copies_of(s, pred, copy_limit)
    return result


def _copies_of(s: Session, pred: ColumnElement[bool], copy_limit: int) -> tuple[int, list[str]]:
    """How many copies the assets ``pred`` selects have, and the first ``copy_limit`` of them in id
    order: two statements (one window count over 3M joined rows took longer than both)."""
    scoped = select(Asset.id).where(pred)
    count = int(s.scalar(select(func.count()).select_from(Copy).where(Copy.asset_id.in_(scoped))) or 0)
    first = select(Copy.uri).where(Copy.asset_id.in_(scoped)).order_by(Copy.id).limit(copy_limit)
    return count, list(s.scalars(first))


def unknown_subjects(
    store: CatalogStore, assets: BitMap, pred: ColumnElement[bool] | None = None
) -> dict[str, int]:
    """For each source holding some of ``assets``, how many of its assets have no known subject."""
    if not assets:
        return {}
    with store.reading() as s:
        if pred is not None:  # one query: the scope's sources as a subquery
            q = (
                select(Source.name, func.count(Asset.id))
                .join(Asset, Asset.source_id == Source.id)
                .where(
                    Asset.subject_id.is_(None),
                    Source.id.in_(select(func.distinct(Asset.source_id)).where(pred)),
                )
                .group_by(Source.name)
                .order_by(Source.name)
            )
            return {name: int(n) for name, n in s.execute(q)}
        sources = list({r[1] for r in member_rows(s, assets, [Asset.source_id])})
        return store.unknown_subject_counts(sources) if sources else {}


def unknown_subjects_of(store: CatalogStore, scope: Scope) -> dict[str, int]:
    """:func:`unknown_subjects` of a scope (what ``erase plan`` reports beside its plan)."""
    with store.reading():
        return unknown_subjects(store, *scope_assets(store, scope))


def closure_of(
    store: CatalogStore, result: Impact, pred: ColumnElement[bool] | None, *, copy_limit: int = 1000
) -> Impact:
    """Fill ``result`` with everything downstream of its assets (``pred`` selects them in SQL if given).

    Dataset bitmaps and the lineage graph are held in memory by the store across calls (the graph
    brought up to date by one primary-key lookup), so a closure costs a handful of queries."""
    with store.reading() as s:
        _scope_counts(s, result, pred, copy_limit)
        _downstream(store, s, result, pred)
    return result


def _scope_counts(s: Session, result: Impact, pred: ColumnElement[bool] | None, copy_limit: int) -> None:
    """The scope's subject and copy counts, and its first ``copy_limit`` copies."""
    assets = result.assets
    if not assets:
        pass
    elif pred is not None:
        if result.scope.kind == "subject":
            result.subject_count = 1
        else:
            result.subject_count = int(
                s.scalar(select(func.count(func.distinct(Asset.subject_id))).where(pred)) or 0
            )
        if len(assets) <= IN_CHUNK:  # a subject's few assets: by the copies' asset_id index
            uris = list(s.scalars(select(Copy.uri).where(Copy.asset_id.in_(list(assets))).order_by(Copy.id)))
            result.copy_count, result.copies = len(uris), uris[:copy_limit]
        else:
            result.copy_count, result.copies = _copies_of(s, pred, copy_limit)
    else:
        subj = {r[1] for r in member_rows(s, assets, [Asset.subject_id]) if r[1] is not None}
        result.subject_count = len(subj)
        copy_rows = list(member_rows(s, assets, [Copy.uri], id_col=Copy.asset_id))
        result.copy_count = len(copy_rows)
        result.copies = sorted(r[1] for r in copy_rows)[:copy_limit]


def _downstream(store: CatalogStore, s: Session, result: Impact, pred: ColumnElement[bool] | None) -> None:
    """The datasets losing the scope's assets and everything the graph reaches from them."""
    assets = result.assets
    seeds: list[Node] = []
    if assets:
        meta = {
            row[0]: row
            for row in s.execute(
                select(Dataset.id, Dataset.name, Dataset.version, Dataset.member_count, Dataset.digest)
            )
        }
        seeds = _datasets_losing(store, result, meta)
    stamp = catalog_stamp(s, "artifacts")  # before the rows it guards
    _walk(store, s, result, store.lineage_graph(s), seeds, _asset_artifacts(s, assets, pred), stamp)


def _walk(
    store: CatalogStore,
    s: Session,
    result: Impact,
    graph: LineageGraph,
    seeds: list[Node],
    asset_artifacts: list[int],
    stamp: int,
) -> None:
    """Fill the runs, models, artifacts, deployments and recipients reached from the seeds and the
    artifacts made straight from the scope's assets."""
    from_assets: list[Node] = [("artifact", a) for a in asset_artifacts]
    reached = graph.downstream(seeds + from_assets)
    arts = _union(reached["artifact"], np.array(asset_artifacts, dtype=np.int64))
    # the runs that wrote affected artifacts used the data too
    runs = _union(reached["run"], graph.producer_ids(arts))
    kept = report_rows(store)  # read again only after a change to any of them moved the stamp
    result.runs = kept.run_rows(s, runs.tolist())
    result.models, result.artifacts, result.deployments = kept.artifact_rows(s, arts.tolist(), stamp, graph)
    result.recipients = sorted({r["party"] for r in result.runs})


def _union(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted unique ids of two sorted unique arrays (``np.union1d`` hashes; this merges)."""
    if not b.size:
        return a
    both = np.sort(np.concatenate((a, b)))
    keep = np.ones(both.size, dtype=bool)
    keep[1:] = both[1:] != both[:-1]
    return both[keep]


def _datasets_losing(store: CatalogStore, result: Impact, meta: Mapping[int, Sequence[Any]]) -> list[Node]:
    """Fill ``result.datasets`` with the dataset versions (``meta``: id -> id, name, version,
    member_count, digest) holding any of its assets, and how many each loses; returns them as graph
    seeds."""
    seeds: list[Node] = []
    for ds_id, members in store.dataset_bitmaps(list(meta)).items():
        lost = members.intersection_cardinality(result.assets)
        if lost:
            _, name, version, count, digest = meta[ds_id]
            seeds.append(("dataset", ds_id))
            result.datasets.append(
                {
                    "name": name,
                    "version": version,
                    "ref": f"{name}@{version}",
                    "members": count,
                    "loses": lost,
                    "digest": digest,
                }
            )
    result.datasets.sort(key=lambda x: (x["name"], x["version"]))
    return seeds


def _asset_artifacts(s: Session, assets: BitMap, pred: ColumnElement[bool] | None) -> list[int]:
    """Artifacts made directly from these assets (thumbnails, crops): the graph does not hold asset edges."""
    if not assets:
        return []
    base = select(Edge.src_id, Edge.dst_id).where(Edge.src_kind == "asset", Edge.dst_kind == "artifact")
    if len(assets) <= IN_CHUNK:  # a few assets: by the edges' (src_kind, src_id) index
        few = base.where(Edge.src_id.in_(list(assets)))
        return [dst for _src, dst in s.execute(few)]
    if pred is not None:
        q = base.join(Asset, Edge.src_id == Asset.id).where(pred)
        return [dst for _src, dst in s.execute(q)]
    return [dst for src, dst in s.execute(base) if src in assets]


@dataclass(slots=True)
class Closure:
    """The downstream closure as ids and counts only: what an impact answer is built from."""

    assets: BitMap
    datasets: dict[int, int]
    """dataset version id -> how many members it loses"""
    runs: list[int]
    artifacts: list[int]


def closure(store: CatalogStore, scope: Scope) -> Closure:
    """Ids of everything downstream of a scope: bitmap intersections for datasets, the in-memory graph
    for runs and artifacts. :func:`impact` adds the rows (names, parties, copies) a report needs."""
    with store.reading() as s:
        assets, pred = scope_assets(store, scope)
        datasets = {
            ds_id: lost
            for ds_id, bm in store.all_dataset_bitmaps().items()
            if (lost := bm.intersection_cardinality(assets))
        }
        from_assets = _asset_artifacts(s, assets, pred)
        reached = store.lineage_graph(s).downstream(
            [("dataset", d) for d in datasets] + [("artifact", a) for a in from_assets]
        )
    artifacts = sorted(set(reached["artifact"].tolist()) | set(from_assets))
    return Closure(assets, datasets, reached["run"].tolist(), artifacts)
