"""The rows an impact answer for a few assets (a subject's, or one asset) needs, in one round trip.

A person asking "which models did my photos train?" is the question asked most, and its answer is a
handful of rows: the assets, their copies, the artifacts made straight from them, the unknown-subject
counts of their sources. Built as ORM statements they were seven queries whose construction, not the
database, took most of the time; here they are one ``UNION ALL`` over the scope's assets, written once,
with the freshness stamps of the dataset and lineage caches riding along.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

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
        else:
            out.edge_top = int(i or 0)
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
