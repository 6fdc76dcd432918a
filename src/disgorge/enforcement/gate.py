"""Enforcement points: what a training run, an export or a re-evaluation asks before reading a byte."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pyroaring import BitMap

from disgorge.catalog import CatalogStore, DatasetInfo, new_uid
from disgorge.catalog.graph import upstream
from disgorge.catalog.members import ClassKey
from disgorge.catalog.schema import Edge, Run
from disgorge.enforcement.check import CheckReport, check_members
from disgorge.errors import PolicyDenied
from disgorge.policy import Policy


def check_datasets(
    store: CatalogStore,
    datasets: list[DatasetInfo],
    *,
    use: str,
    recipient: str,
    policy: Policy,
    at: datetime | None = None,
) -> CheckReport:
    """Check dataset versions by their stored purpose classes: no scan of their rows.

    The outcome is kept by the store per (versions, use, recipient) and given again, as a new decision
    at ``at``, while the catalog's stamps (every ledger kind the check's inputs depend on: consent,
    attributions, ingests, sources, settings, datasets, erasure marks and flags) have not moved, the
    policy is the same and ``at`` lies between the kept decision's time and the next consent event. The
    stamps are read first, so a change committed by any process during a check is seen by the next."""
    when = at or datetime.now(UTC)
    stamp = store.cache_stamp()
    key = (tuple(d.id for d in datasets), use, recipient)
    cache: dict[tuple[tuple[int, ...], str, str], _Kept] = store.__dict__.setdefault("_checks", {})
    kept = cache.get(key)
    if kept is not None and kept.holds(stamp, policy, when):
        return replace(kept.report, at=when, decision_uid=new_uid())
    report = _check_datasets(store, datasets, use=use, recipient=recipient, policy=policy, at=when)
    if len(cache) >= 1024:
        cache.clear()
    cache[key] = _Kept(stamp, policy, report)
    return report


@dataclass(slots=True, frozen=True)
class _Kept:
    stamp: tuple[int, ...]
    policy: Policy
    report: CheckReport

    def holds(self, stamp: tuple[int, ...], policy: Policy, at: datetime) -> bool:
        r = self.report
        return (
            self.stamp == stamp and self.policy is policy and r.at <= at and (r.until is None or at < r.until)
        )


def _check_datasets(
    store: CatalogStore,
    datasets: list[DatasetInfo],
    *,
    use: str,
    recipient: str,
    policy: Policy,
    at: datetime,
) -> CheckReport:
    members = BitMap()
    classes: dict[ClassKey, BitMap] | None = {}
    for d in datasets:
        members |= store.members(d.id)
        stored = store.dataset_classes(d.id)
        if stored is None or classes is None:
            classes = None
            continue
        for key, bm in stored.items():
            classes[key] = classes.get(key, BitMap()) | bm
    names, digests = [d.ref for d in datasets], [d.digest for d in datasets]
    return check_members(
        store,
        members,
        classes=classes,
        use=use,
        recipient=recipient,
        policy=policy,
        at=at,
        inputs=names,
        digests=digests,
    )


def training_datasets(
    store: CatalogStore, inputs: list[tuple[str, int]], *, known: dict[int, DatasetInfo] | None = None
) -> list[DatasetInfo]:
    """The dataset versions a run would read, directly or through the training data of its input models
    (or of the captured runs whose outputs it read); ``known`` rows, just read by the caller, are not
    read again."""
    ids = {i for kind, i in inputs if kind == "dataset"}
    models = [(kind, i) for kind, i in inputs if kind in ("artifact", "run")]  # a run: its output was read
    if models:
        with store.session() as s:
            for (pk, pid), _child, _rel in upstream(s, models):
                if pk == "dataset":
                    ids.add(pid)
    if not ids:
        return []  # a run with no data inputs: no reason to read every dataset row
    by_id = {i: d for i, d in (known or {}).items() if i in ids}
    if len(by_id) < len(ids):
        by_id.update(store.datasets_by_id(ids - by_id.keys()))
    return [by_id[i] for i in sorted(ids)]


def readable(ds: DatasetInfo) -> DatasetInfo:
    """A dataset version that held erased members is history: no new run may read it."""
    if ds.state == "erased_members":
        raise PolicyDenied(
            f"dataset {ds.ref} held members that were since erased; it may not be read",
            hint=f"use the version an erasure rebuilt without them: {ds.name} (its newest version)",
        )
    return ds


def denial(report: CheckReport, what: str) -> PolicyDenied:
    reasons = "; ".join(f"{v.count} × {v.reason} ({v.rule})" for v in report.violations[:4])
    clause = report.violations[0].clause if report.violations else ""
    return PolicyDenied(
        f"{what} refused before any data was read: {len(report.denied)} of {report.total} assets may not be used "
        f"for {report.use} by {report.recipient} [{reasons}] (decision {report.decision_uid})",
        hint=f"would be allowed by: {clause}; or derive a compliant subset (compliant_subset=True)",
        details={"decision": report.to_json()},
    )


def subset_name(name: str, use: str, recipient: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", recipient.lower()).strip("-")
    return f"{name}--ok-{use.replace('.', '-')}-{slug}"


@dataclass(slots=True)
class RunReview:
    run: dict[str, Any]
    report: CheckReport
    models: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "denied": len(self.report.denied),
            "total": self.report.total,
            "by_reason": self.report.by_reason(),
            "inputs": self.report.inputs,
            "models": self.models,
            "artifacts": self.artifacts,
        }


def review_runs(store: CatalogStore, *, policy: Policy, at: datetime | None = None) -> list[RunReview]:
    """Re-evaluate every recorded run's training data now: the runs no longer covered, and what they made."""
    from sqlalchemy import select

    from disgorge.catalog.schema import Artifact

    runs, inputs = _runs_and_inputs(store)
    cache: dict[tuple[tuple[int, ...], str, str], CheckReport] = {}
    out: list[RunReview] = []
    for run_id, uid, name, use, party in runs:
        datasets = training_datasets(store, inputs.get(run_id, []))
        if not datasets:
            continue
        key = (tuple(d.id for d in datasets), use, party)
        if key not in cache:
            cache[key] = check_datasets(store, datasets, use=use, recipient=party, policy=policy, at=at)
        report = cache[key]
        if report.ok:
            continue
        review = RunReview({"uid": uid, "name": name, "use": use, "party": party}, report)
        with store.session() as s:
            art_ids = store.lineage_graph(s).downstream([("run", run_id)])["artifact"].tolist()
            for art in s.scalars(select(Artifact).where(Artifact.id.in_(art_ids))):
                item = {"name": art.name, "kind": art.kind, "sha256": art.sha256}
                (review.models if art.kind == "model" else review.artifacts).append(item)
        out.append(review)
    return out


def warm_gate(store: CatalogStore, policy: Policy, *, recent: int = 500, most: int = 8) -> int:
    """Check, before anyone asks, the dataset inputs, use and party of the newest runs, so that the
    consent sets, member bitmaps and kept decisions a gated start needs are built (at 3M assets with
    consent events, the first start after a server came up spent 5-7 s building the consent sets while
    its client waited). Nothing is recorded; returns how many (datasets, use, party) were checked."""
    runs, inputs = _runs_and_inputs(store, newest=recent)
    seen: set[tuple[tuple[int, ...], str, str]] = set()
    for run_id, _, _, use, party in runs:
        if len(seen) >= most:
            break
        wanted = [(k, i) for k, i in inputs.get(run_id, []) if k == "dataset"]
        if not wanted:
            continue
        datasets = training_datasets(store, wanted)
        key = (tuple(d.id for d in datasets), use, party)
        if datasets and key not in seen:
            seen.add(key)
            check_datasets(store, datasets, use=use, recipient=party, policy=policy)
    return len(seen)


def _runs_and_inputs(
    store: CatalogStore, *, newest: int | None = None
) -> tuple[list[Any], dict[int, list[tuple[str, int]]]]:
    """Recorded runs as (id, uid, name, use, party), all oldest first or the ``newest`` newest first,
    with each run's inputs (datasets and models it read) as (kind, id)."""
    from sqlalchemy import select

    with store.session() as s:
        q = select(Run.id, Run.uid, Run.name, Run.use, Run.party)
        q = q.order_by(Run.id) if newest is None else q.order_by(Run.id.desc()).limit(newest)
        runs = list(s.execute(q))
        where = [Edge.dst_kind == "run", Edge.relation.in_(("input", "fed"))]
        if newest is not None:
            where.append(Edge.dst_id.in_([r[0] for r in runs]))
        inputs: dict[int, list[tuple[str, int]]] = {}
        for src_kind, src_id, run_id in s.execute(
            select(Edge.src_kind, Edge.src_id, Edge.dst_id).where(*where)
        ):
            inputs.setdefault(run_id, []).append((src_kind, src_id))
    return runs, inputs
