"""The rows an impact answer for a few assets (a subject's, or one asset) needs, in one round trip.

A person asking "which models did my photos train?" is the question asked most, and its answer is a
handful of rows: the assets, their copies, the artifacts made straight from them, the unknown-subject
counts of their sources. Built as ORM statements they were seven queries whose construction, not the
database, took most of the time; here they are one ``UNION ALL`` over the scope's assets, written once,
with the freshness stamps of the dataset and lineage caches riding along.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from disgorge.catalog.lineage_graph import LineageGraph

_BRANCHES = """
SELECT 0 AS t, a.id AS i, a.source_id AS j, a.subject_id AS k, CAST(NULL AS TEXT) AS s FROM a
UNION ALL
SELECT 1, c.id, NULL, NULL, c.uri FROM copies c WHERE c.asset_id {ids}
UNION ALL
SELECT 2, e.dst_id, NULL, NULL, NULL FROM edges e
 WHERE e.src_kind = 'asset' AND e.dst_kind = 'artifact' AND e.src_id {ids}
UNION ALL
SELECT 3, count(x.id), NULL, NULL, src.name FROM sources src JOIN assets x ON x.source_id = src.id
 WHERE x.subject_id IS NULL AND src.id IN (SELECT source_id FROM a) GROUP BY src.name
UNION ALL
SELECT 4, count(*), max(d.id), NULL, NULL FROM datasets d
UNION ALL
SELECT 5, max(g.id), NULL, NULL, NULL FROM edges g
UNION ALL
SELECT 6, n, NULL, NULL, NULL FROM catalog_stamps WHERE name = 'artifacts'
"""
_IN_SCOPE = {
    # PostgreSQL plans a semi-join against the CTE by a guess of its size, and chose a full scan of
    # copies (18 ms at 50k assets); an array from an InitPlan makes it an index lookup whatever the
    # statistics say. SQLite looks the subquery's ids up by index on its own.
    "postgresql": "= ANY(ARRAY(SELECT id FROM a))",
    "sqlite": "IN (SELECT id FROM a)",
}
_SCOPES = {
    "subject": "WITH a AS (SELECT id, source_id, subject_id FROM assets WHERE subject_id = "
    "(SELECT id FROM subjects WHERE pseudonym = :value))",
    "asset": "WITH a AS (SELECT id, source_id, subject_id FROM assets WHERE id = CAST(:value AS BIGINT))",
}
_STATEMENTS = {
    (scope, dialect): text(head + _BRANCHES.format(ids=ids))
    for scope, head in _SCOPES.items()
    for dialect, ids in _IN_SCOPE.items()
}
ARTIFACTS = text(
    """
SELECT 'a', id, kind, name, sha256 FROM artifacts WHERE id IN :ids
UNION ALL SELECT 'c', artifact_id, uri, NULL, NULL FROM artifact_copies WHERE artifact_id IN :ids
UNION ALL SELECT 'd', artifact_id, target, state, NULL FROM deployments WHERE artifact_id IN :ids
"""
).bindparams(bindparam("ids", expanding=True))
DATASETS = text("SELECT id, name, version, member_count, digest FROM datasets")
STAMP = text("SELECT n FROM catalog_stamps WHERE name = :name")
RUNS = text("SELECT id, uid, name, use, party FROM runs WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
IN_CHUNK = 900
NEWEST_RUNS = text("SELECT id FROM runs ORDER BY id DESC LIMIT :n")
NEWEST_ARTIFACTS = text("SELECT id FROM artifacts ORDER BY id DESC LIMIT :n")
COUNTS = {table: text(f"SELECT count(*) FROM {table}") for table in ("runs", "artifacts")}
WARM_NEWEST = 100_000
"""Rows of each the first report reads (at ~1 KB a row kept, 100 MB at most); older ones as needed."""


@dataclass(slots=True)
class FewAssets:
    """The scope's rows: asset ids, subjects, copies (in id order), artifacts made from the assets, and
    per source the assets with no known subject; with the two caches' stamps."""

    assets: list[int] = field(default_factory=list)
    subjects: set[int] = field(default_factory=set)
    copies: list[tuple[int, str]] = field(default_factory=list)
    asset_artifacts: list[int] = field(default_factory=list)
    unknown_subjects: dict[str, int] = field(default_factory=dict)
    dataset_stamp: tuple[int, int] = (0, 0)
    """(how many dataset versions, the newest id): versions are never deleted or changed"""
    edge_top: int = 0
    artifact_stamp: int = -1


def few_assets(s: Session, *, pseudonym: str | None = None, asset_id: int | None = None) -> FewAssets:
    """The rows for a subject (by pseudonym) or one asset, in one statement."""
    scope, value = ("subject", pseudonym) if pseudonym is not None else ("asset", asset_id)
    stmt = _STATEMENTS[(scope, s.get_bind().dialect.name)]
    out = FewAssets()
    for t, i, j, k, name in s.connection().execute(stmt, {"value": value}):
        if t == 0:
            out.assets.append(int(i))
            if k is not None:
                out.subjects.add(int(k))
        elif t == 1:
            out.copies.append((int(i), name))
        elif t == 2:
            out.asset_artifacts.append(int(i))
        elif t == 3:
            out.unknown_subjects[name] = int(i)
        elif t == 4:
            out.dataset_stamp = (int(i or 0), int(j or 0))
        elif t == 5:
            out.edge_top = int(i or 0)
        else:
            out.artifact_stamp = int(i)
    out.assets.sort()
    out.copies.sort()
    return out


def dataset_rows(s: Session, cache: dict[str, Any], stamp: tuple[int, int]) -> dict[int, tuple[Any, ...]]:
    """Every dataset version's (id, name, version, member_count, digest), kept in ``cache`` and read
    again only when ``stamp`` changed: rows are only ever added, with ids from a sequence, so the
    count and the newest id change together with the set."""
    if cache.get("stamp") != stamp:
        cache["rows"] = {r[0]: tuple(r) for r in s.connection().execute(DATASETS)}
        cache["stamp"] = stamp
    rows: dict[int, tuple[Any, ...]] = cache["rows"]
    return rows


def artifact_rows(s: Session, ids: list[int]) -> list[tuple[str, int, Any, Any, Any]]:
    """Rows tagged ``a`` (artifact: kind, name, sha256), ``c`` (copy: uri) and ``d`` (deployment:
    target, state) for these artifacts."""
    return [tuple(r) for r in s.connection().execute(ARTIFACTS, {"ids": ids})]


def catalog_stamp(s: Session, name: str) -> int:
    """The counter migration 0016's triggers move on any change to a group of tables: ``artifacts``
    (artifacts, their copies, deployments)."""
    return int(s.connection().execute(STAMP, {"name": name}).scalar() or 0)


class _Order:
    """Kept rows' ids in report order, with a mask of every id asked about (found or not), so a
    report's rows are picked by array masks: no per-report sort, no per-id lookup to find the missing."""

    def __init__(self, ids: list[int], known: Iterable[int], split: list[bool] | None = None) -> None:
        self.ids = np.array(ids, dtype=np.int64)
        asked = np.fromiter(known, dtype=np.int64)
        self.asked = np.zeros(int(asked.max(initial=-1)) + 1, dtype=bool)
        self.asked[asked] = True
        self.split = None if split is None else np.array(split, dtype=bool)
        """per id in order: whether it is of the first kind (models, for artifacts)"""

    def missing(self, ids: npt.NDArray[np.int64]) -> list[int]:
        inside = ids < self.asked.size
        return [*ids[~inside].tolist(), *ids[inside][~self.asked[ids[inside]]].tolist()]

    def pick(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """A mask over :attr:`ids` (report order) of those among ``ids``."""
        chosen = np.zeros(self.asked.size, dtype=bool)
        chosen[ids[ids < chosen.size]] = True
        return chosen[self.ids]


class ReportRows:
    """The run and artifact rows impact reports list, kept by the store between reports.

    A run's uid, name, use and party never change, so its row is kept for good. An artifact's row
    (with its copies and parents) and its deployments are kept while the catalog's artifact stamp
    (:func:`catalog_stamp`) has not moved; parents are taken from the lineage graph, which keeps one
    list per artifact until an edge into it is added. Rows are handed out in report order, picked by
    masks over an order computed once per change of what is kept, and are shared between reports,
    not copied: for one subject of the OkCupid case that is ~4,800 runs and ~4,800 models, and building
    them anew per report was most of its time and of the garbage collector's. Read them; never change
    them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[int, dict[str, Any] | None] = {}
        """run id -> {uid, name, use, party}, or None where none is stored"""
        self._run_order: _Order | None = None
        self.stamp: int | None = None
        self.items: dict[int, dict[str, Any] | None] = {}
        """artifact id -> {id, kind, name, sha256, uris, parents}, or None where none is stored"""
        self.deployments: dict[int, list[dict[str, Any]]] = {}
        self._art_order: _Order | None = None
        self._parents_version = -1

    def run_rows(self, s: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
        """The runs' rows, ordered by (name, uid); ids not stored are left out."""
        wanted = np.fromiter(ids, dtype=np.int64)
        with self._lock:
            order = self._run_order
            missing = wanted.tolist() if order is None else order.missing(wanted)
            if missing and not self.runs and _most(s, "runs", len(missing)):
                missing = sorted(set(missing) | _newest(s, NEWEST_RUNS))
            for i in range(0, len(missing), IN_CHUNK):
                part = missing[i : i + IN_CHUNK]
                self.runs.update(dict.fromkeys(part))
                for run_id, uid, name, use, party in s.connection().execute(RUNS, {"ids": part}):
                    self.runs[int(run_id)] = {"uid": uid, "name": name, "use": use, "party": party}
            if order is None or missing:
                runs = self.runs
                ranked = [r for r, row in runs.items() if row is not None]
                ranked.sort(key=lambda r: (runs[r]["name"], runs[r]["uid"]))  # type: ignore[index]
                order = self._run_order = _Order(ranked, runs)
            runs = self.runs
        return [runs[r] for r in order.ids[order.pick(wanted)].tolist()]  # type: ignore[misc]

    def artifact_rows(
        self, s: Session, ids: Iterable[int], stamp: int, graph: LineageGraph
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(models, other artifacts, each in report order; their deployments by (target, artifact id))
        as of ``stamp``, which the caller read before this call (so rows read after it are never older
        than it says)."""
        wanted = np.fromiter(ids, dtype=np.int64)
        with self._lock:
            if stamp != self.stamp:
                self.items, self.deployments, self._art_order, self.stamp = {}, {}, None, stamp
            order = self._art_order
            missing = wanted.tolist() if order is None else order.missing(wanted)
            if missing and not self.items and _most(s, "artifacts", len(missing)):  # after a change too
                missing = sorted(set(missing) | _newest(s, NEWEST_ARTIFACTS))
            for i in range(0, len(missing), IN_CHUNK):
                self._fill(s, missing[i : i + IN_CHUNK], graph)
            version = graph.parents_version  # read before the rows, as a stamp is
            if version != self._parents_version:  # an artifact gained a parent
                stored = [a for a, item in self.items.items() if item is not None]
                for a, parents in zip(stored, graph.parent_rows(stored), strict=True):
                    self.items[a]["parents"] = parents  # type: ignore[index]
                self._parents_version = version
            if order is None or missing:
                items = self.items
                ranked = [a for a, item in items.items() if item is not None]
                ranked.sort(key=lambda a: _artifact_order(items[a]))
                models = [items[a]["kind"] == "model" for a in ranked]  # type: ignore[index]
                order = self._art_order = _Order(ranked, items, models)
            items, deps = self.items, self.deployments
        mask = order.pick(wanted)
        assert order.split is not None
        chosen, is_model = order.ids[mask], order.split[mask]
        models = [items[a] for a in chosen[is_model].tolist()]
        others = [items[a] for a in chosen[~is_model].tolist()]
        shown = [d for a in chosen.tolist() if a in deps for d in deps[a]]
        shown.sort(key=lambda d: (d["target"], d["artifact_id"]))
        return models, others, shown  # type: ignore[return-value]

    def warm(self, s: Session, graph: LineageGraph, *, newest: int = WARM_NEWEST) -> int:
        """Read the newest runs' and artifacts' rows ahead of the first report (what a server does as
        it starts); returns how many rows are kept."""
        stamp = catalog_stamp(s, "artifacts")  # before the rows it guards
        runs = sorted(_newest(s, NEWEST_RUNS, newest))
        arts = sorted(_newest(s, NEWEST_ARTIFACTS, newest))
        models, others, _ = self.artifact_rows(s, arts, stamp, graph)
        return len(self.run_rows(s, runs)) + len(models) + len(others)

    def _fill(self, s: Session, ids: list[int], graph: LineageGraph) -> None:
        uris: dict[int, list[str]] = {}
        for a in ids:
            self.items[a] = None
        for tag, art_id, a, b, c in artifact_rows(s, ids):  # tagged a(rtifact), c(opy), d(eployment)
            if tag == "a":
                self.items[art_id] = {"id": art_id, "kind": a, "name": b, "sha256": c}
            elif tag == "c":
                uris.setdefault(art_id, []).append(a)
            else:
                self.deployments.setdefault(art_id, []).append(
                    {"artifact_id": art_id, "target": a, "state": b}
                )
        for a, parents in zip(ids, graph.parent_rows(ids), strict=True):
            item = self.items[a]
            if item is not None:
                item["uris"] = sorted(uris.get(a, []))
                item["parents"] = parents


def _most(s: Session, table: str, needed: int) -> bool:
    """Whether a first report needs a good share (a quarter or more) of the table's rows: it then
    reads all of them (up to :data:`WARM_NEWEST`), so the reports after it find theirs kept and the
    order is ranked once; a one-off report of a few runs (a command line's) reads only its own."""
    total = int(s.connection().execute(COUNTS[table]).scalar() or 0)
    return needed * 4 >= min(total, WARM_NEWEST)


def _newest(s: Session, stmt: Any, n: int = WARM_NEWEST) -> set[int]:
    return {int(i) for (i,) in s.connection().execute(stmt, {"n": n})}


def _artifact_order(item: dict[str, Any] | None) -> tuple[int, str, str, str]:
    """Models first by (name, sha256), then other artifacts by (kind, name, sha256): report order."""
    assert item is not None
    model = item["kind"] == "model"
    return (0 if model else 1, "" if model else item["kind"], item["name"] or "", item["sha256"])


def report_rows(store: Any) -> ReportRows:
    """The store's :class:`ReportRows` (made on first use; the store is shared by a server's threads)."""
    rows: ReportRows | None = store.__dict__.get("_report_rows")
    if rows is None:
        rows = store.__dict__.setdefault("_report_rows", ReportRows())
    return rows
