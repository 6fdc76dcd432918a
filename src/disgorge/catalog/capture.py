"""Captured lineage in the catalog: raw OpenLineage events, and runs other systems reported, folded in.

Applying a captured run is idempotent and order-independent: the run row, its inputs and outputs are
upserted from the fold of everything received so far, and an output registered now binds the inputs of
other runs that named the same URI before it was known, so a replay in any order gives one catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from pyroaring import BitMap
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from disgorge.catalog.capture_apply import XS, Batch, chunks
from disgorge.catalog.capture_resolve import Resolution, copies_at_or_under, wrap_name
from disgorge.catalog.ledger import LedgerMixin
from disgorge.catalog.members import from_blob
from disgorge.catalog.schema import (
    Artifact,
    CapturedIO,
    CapturedRunRow,
    Dataset,
    Edge,
    LineageEvent,
    Run,
    utcnow,
)
from disgorge.model.capture import CapturedRun, CaptureOutcome

_newest = (
    select(Dataset.name, func.max(Dataset.version).label("v"))
    .where(Dataset.name.in_(XS))
    .group_by(Dataset.name)
    .subquery()
)
Q_NEWEST = select(Dataset.name, Dataset.id, Dataset.members).join(
    _newest, (Dataset.name == _newest.c.name) & (Dataset.version == _newest.c.v)
)
"""The newest version of each name, with its members."""
Q_HELD = select(
    LineageEvent.run_uid,
    LineageEvent.event_type,
    LineageEvent.event_time,
    LineageEvent.digest,
    LineageEvent.body,
).where(LineageEvent.run_uid.in_(XS))
INSERT_EVENTS = insert(cast(Table, LineageEvent.__table__))
RawEvent = tuple[str, str, str, str, str, str]
"""(run uid, event type, event time, producer, sha256 of the body, canonical JSON body)."""


class CaptureMixin(LedgerMixin):
    def store_lineage_events(self, events: Sequence[RawEvent]) -> list[str]:
        """Store events as received, once per (run id, type, time): ``stored``, ``duplicate`` (that key
        with that body again) or ``conflict`` (that key with another body: kept beside the first, since
        keeping either alone would make the fold depend on arrival order)."""
        with self.session() as s:
            return self._store_events(s, events)[0]

    def ingest_lineage(
        self, events: Sequence[RawEvent], fold: Callable[[dict[str, list[str]]], list[CapturedRun]]
    ) -> tuple[list[str], list[CaptureOutcome]]:
        """Store events and apply the re-fold of every run they change, in one transaction.

        ``fold`` gets every stored body of each changed run (a pure function: it may be called before
        anything is committed). Returns the events' statuses (as :meth:`store_lineage_events`) and an
        outcome per changed run, in first-seen order. A failure rolls back the events too."""
        with self.session() as s:
            statuses, bodies = self._store_events(s, events)
            changed = list(
                dict.fromkeys(e[0] for e, st in zip(events, statuses, strict=True) if st != "duplicate")
            )
            runs = fold({u: bodies[u] for u in changed})
            return statuses, Batch(self, s, runs).apply() if runs else []

    def _store_events(self, s: Session, events: Sequence[RawEvent]) -> tuple[list[str], dict[str, list[str]]]:
        """Statuses, and every body now held per run id (the new ones included), in one read per 900 runs
        and one multi-row insert."""
        out: list[str] = []
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, str], set[str]] = {}
        bodies: dict[str, list[str]] = {e[0]: [] for e in events}
        for part in chunks(bodies):
            for uid, etype, etime, digest, body in s.execute(Q_HELD, {"xs": part}):
                seen.setdefault((uid, etype, etime), set()).add(digest)
                bodies[uid].append(body)
        now = utcnow()
        for uid, etype, etime, producer, digest, body in events:
            digests = seen.setdefault((uid, etype, etime), set())
            if digest in digests:
                out.append("duplicate")
                continue
            out.append("conflict" if digests else "stored")
            digests.add(digest)
            bodies[uid].append(body)
            rows.append(
                {
                    "run_uid": uid,
                    "event_type": etype,
                    "event_time": etime,
                    "producer": producer[:2000],
                    "digest": digest,
                    "body": body,
                    "received_at": now,
                }
            )
        if rows:
            s.connection().execute(INSERT_EVENTS, rows)
        return out, bodies

    def lineage_event_bodies(self, uids: Sequence[str]) -> dict[str, list[str]]:
        """Every stored event body per run id, in (time, type, digest) order."""
        out: dict[str, list[str]] = {u: [] for u in uids}
        with self.session() as s:
            for i in range(0, len(uids), 900):
                q = (
                    select(LineageEvent.run_uid, LineageEvent.body)
                    .where(LineageEvent.run_uid.in_(uids[i : i + 900]))
                    .order_by(LineageEvent.event_time, LineageEvent.event_type, LineageEvent.digest)
                )
                for uid, body in s.execute(q):
                    out[str(uid)].append(str(body))
        return out

    def apply_captured_runs(self, runs: Sequence[CapturedRun]) -> list[CaptureOutcome]:
        """Upsert captured runs (the folds of everything received for each), resolve their inputs and
        register their models, in one transaction (see the module doc)."""
        with self.session() as s:
            return Batch(self, s, runs).apply()

    def apply_captured_run(self, run: CapturedRun) -> CaptureOutcome:
        return self.apply_captured_runs([run])[0]

    def _wrap_inputs(
        self, s: Session, runs: Sequence[CapturedRun], bound: set[tuple[str, str]], artifacts: set[str]
    ) -> dict[str, Resolution]:
        """Inputs that name registered copies become dataset versions (content-addressed: the same copies
        give the same version), created in the caller's transaction. An input a run already has bound
        to such a version (``bound``: run uid, URI) keeps it (see :meth:`Batch._inputs`): a run's later
        events (COMPLETE after START) do not resolve the same names again. A URI in ``artifacts`` is a
        registered model's or artifact's copy, resolved as that."""
        want = {
            (r.uid, ds.uri) for r in runs for ds in r.inputs if ds.digest is None and ds.dataset_ref is None
        }
        uris = sorted({uri for _, uri in want - bound})
        found: dict[str, tuple[BitMap, str]] = {}
        exact, under = copies_at_or_under(s, uris)
        found.update((u, (bm, "copy")) for u, bm in exact.items())
        found.update(
            (u, (bm, "storage_prefix")) for u, bm in under.items() if u not in exact and u not in artifacts
        )
        names = {wrap_name(u): u for u in found}
        reuse: dict[str, int] = {}
        for part in chunks(names):
            for name, did, blob in s.execute(Q_NEWEST, {"xs": part}):
                uri = names[str(name)]
                if from_blob(blob) == found[uri][0]:
                    reuse[uri] = int(did)
        out: dict[str, Resolution] = {}
        for uri, (members, how) in found.items():
            if uri not in reuse:
                info, _ = self._create_dataset(
                    s, wrap_name(uri), members, query=f"registered copies at {uri} ({how})"
                )
                reuse[uri] = info.id
            out[uri] = ("dataset", reuse[uri], how)
        return out

    def unknown_provenance_runs(self) -> list[dict[str, Any]]:
        """Captured runs with inputs that resolve to nothing registered, each with those inputs."""
        with self.session() as s:
            rows = s.execute(
                select(Run.uid, Run.name, Run.use, Run.party, CapturedIO.uri, CapturedIO.reason)
                .join(CapturedIO, CapturedIO.run_id == Run.id)
                .where(CapturedIO.direction == "input", CapturedIO.node_kind.is_(None))
                .order_by(Run.id, CapturedIO.uri)
            ).all()
        out: dict[str, dict[str, Any]] = {}
        for uid, name, use, party, uri, reason in rows:
            item = out.setdefault(uid, {"uid": uid, "name": name, "use": use, "party": party, "unknown": []})
            item["unknown"].append({"uri": uri, "reason": reason})
        return list(out.values())

    def captured_summary(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Per run started in the window: its producer (``disgorge`` for runs recorded here), its inputs
        resolved and unknown, and the models it wrote."""
        with self.session() as s:
            q = select(Run.id, Run.uid, Run.name, Run.started_at)
            if since is not None:
                q = q.where(Run.started_at >= since)
            if until is not None:
                q = q.where(Run.started_at < until)
            runs = {int(r[0]): r for r in s.execute(q.order_by(Run.id))}
            caps: dict[int, CapturedRunRow] = {}
            ios: list[Any] = []
            for part in chunks(runs):
                caps.update(
                    (int(c.run_id), c)
                    for c in s.scalars(select(CapturedRunRow).where(CapturedRunRow.run_id.in_(part)))
                )
                ios += s.execute(
                    select(CapturedIO.run_id, CapturedIO.direction, CapturedIO.node_kind).where(
                        CapturedIO.run_id.in_(part)
                    )
                ).all()
            local = [r for r in runs if r not in caps]
            edges: dict[int, int] = {}
            for part in chunks(local):
                per_run = (
                    select(Edge.dst_id, func.count())
                    .where(Edge.dst_kind == "run", Edge.relation == "input", Edge.dst_id.in_(part))
                    .group_by(Edge.dst_id)
                )
                edges.update((int(r), int(n)) for r, n in s.execute(per_run))
        out: list[dict[str, Any]] = []
        counts: dict[int, list[int]] = {r: [n, 0] for r, n in edges.items()}
        for run_id, direction, kind in ios:
            c = counts.setdefault(int(run_id), [0, 0])
            if direction == "input":
                c[0 if kind is not None else 1] += 1
        for run_id, uid, name, started in runs.values():
            cap = caps.get(run_id)
            resolved, unknown = counts.get(run_id, [0, 0])
            out.append(
                {
                    "run_id": run_id,
                    "uid": uid,
                    "name": name,
                    "started_at": started,
                    "source": cap.source if cap else "disgorge",
                    "producer": cap.producer if cap else "disgorge",
                    "resolved": resolved,
                    "unknown": unknown,
                    "captured": cap is not None,
                }
            )
        return out

    def models_and_runs(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Models registered in the window, each with whether a run is recorded as having made it."""
        with self.session() as s:
            q = select(Artifact.id, Artifact.name, Artifact.sha256, Artifact.run_id).where(
                Artifact.kind == "model"
            )
            if since is not None:
                q = q.where(Artifact.created_at >= since)
            if until is not None:
                q = q.where(Artifact.created_at < until)
            arts = s.execute(q.order_by(Artifact.id)).all()
            made: set[int] = set()
            for part in chunks([a[0] for a in arts]):
                made.update(
                    int(i)
                    for i in s.scalars(
                        select(Edge.dst_id).where(
                            Edge.dst_kind == "artifact",
                            Edge.src_kind == "run",
                            Edge.relation == "output",
                            Edge.dst_id.in_(part),
                        )
                    )
                )
        return [
            {"name": name, "sha256": sha, "trained_by_run": run_id is not None or aid in made}
            for aid, name, sha, run_id in arts
        ]
