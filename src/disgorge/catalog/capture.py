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
from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from disgorge.catalog.capture_apply import XS, Batch, chunks
from disgorge.catalog.capture_resolve import Resolution, copies_at_or_under, wrap_name
from disgorge.catalog.engine import make_engine
from disgorge.catalog.ledger import LedgerMixin
from disgorge.catalog.members import from_blob
from disgorge.catalog.schema import (
    Artifact,
    CapturedIO,
    CapturedRunRow,
    Dataset,
    Edge,
    LineageEvent,
    LineagePending,
    Run,
    utcnow,
)
from disgorge.catalog.store import ACTOR
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
Q_KEYS = select(
    LineageEvent.run_uid, LineageEvent.event_type, LineageEvent.event_time, LineageEvent.digest
).where(LineageEvent.run_uid.in_(XS))
Q_KEYS_ONE = select(LineageEvent.event_type, LineageEvent.event_time, LineageEvent.digest).where(
    LineageEvent.run_uid == bindparam("uid")
)
"""One run's keys: the one-event request's read (an expanding ``IN`` is compiled again on each use)."""
INSERT_EVENTS = insert(cast(Table, LineageEvent.__table__))
INSERT_EVENT_IDS = INSERT_EVENTS.returning(LineageEvent.id, sort_by_parameter_order=True)
INSERT_EVENT_ID = INSERT_EVENTS.returning(LineageEvent.id)
INSERT_PENDING = insert(cast(Table, LineagePending.__table__))
Q_PENDING = (
    select(LineagePending.event_id, LineagePending.run_uid, LineagePending.accepted_by)
    .where(LineagePending.failed.is_(None))
    .order_by(LineagePending.event_id)
)
NOWAIT_SECONDS = 0.002
"""How long a ``nowait`` acceptance waits for another writer's lock on SQLite."""
_FOLD_LOCK = text("SELECT pg_advisory_xact_lock(7243158)")
_SQLITE_WRITE_LOCK = text("DELETE FROM lineage_pending WHERE 0 = 1")
"""A write that changes nothing: SQLite takes its write lock at the first write of a transaction, and
pysqlite begins the transaction only there, so without it the reads before would see no lock at all."""
RawEvent = tuple[str, str, str, str, str, str]
"""(run uid, event type, event time, producer, sha256 of the body, canonical JSON body)."""


class CaptureMixin(LedgerMixin):
    def store_lineage_events(self, events: Sequence[RawEvent]) -> list[str]:
        """Store events as received, once per (run id, type, time): ``stored``, ``duplicate`` (that key
        with that body again) or ``conflict`` (that key with another body: kept beside the first, since
        keeping either alone would make the fold depend on arrival order)."""
        with self.session() as s:
            return self._store_events(s.connection(), events)[0]

    def accept_lineage_events(self, events: Sequence[RawEvent], *, nowait: bool = False) -> list[str] | None:
        """Store events as :meth:`store_lineage_events` does and mark the new ones pending, to be folded
        later by :meth:`fold_pending_lineage`: acknowledging an event costs one read, two inserts and
        one commit.

        ``nowait`` (SQLite only): None at once, storing nothing, if another writer holds the catalog,
        instead of waiting for it (the server then waits in a worker thread, not on its event loop)."""
        engine = self.engine
        if nowait:
            engine = self._nowait_engine()
        try:  # Core only: this is the whole of a single event's request, and the ORM doubled it
            with engine.begin() as conn:
                return self._store_events(conn, events, pending=True)[0]
        except OperationalError as exc:
            if engine is not self.engine and "locked" in str(exc.orig):
                return None
            raise self._store_error(exc, "the catalog at {url} failed") from exc
        except SQLAlchemyError as exc:
            raise self._store_error(exc, "the catalog at {url} failed") from exc

    def _nowait_engine(self) -> Engine:
        """The catalog file again, with connections that give up on a lock after a few milliseconds
        (an in-memory catalog has one connection: it waits, as it never waits long)."""
        found: Engine | None = self.__dict__.get("_nowait")
        if found is None:
            db = self.engine.url.database
            if self.dialect != "sqlite" or db in (None, "", ":memory:"):
                found = self.engine
            else:
                found = make_engine(self.url, busy_timeout=NOWAIT_SECONDS)
            self.__dict__["_nowait"] = found
        return found

    def pending_lineage_top(self) -> int | None:
        """The newest pending event's id (None: nothing is pending)."""
        with self.session() as s:
            return s.scalar(select(func.max(LineagePending.event_id)).where(LineagePending.failed.is_(None)))

    def fold_pending_lineage(
        self,
        fold: Callable[[dict[str, list[str]]], list[CapturedRun]],
        limit: int = 2000,
        *,
        upto: int | None = None,
    ) -> tuple[list[int], list[str]]:
        """Fold the runs of up to ``limit`` pending events, oldest first, in one transaction that also
        clears them (only events up to id ``upto``, if given); returns those events' ids and their runs
        (none: nothing was pending). Events stored meanwhile stay pending for the next round, even where
        their run was folded with them."""
        with self.session() as s:
            self._one_folder(s)
            pending = Q_PENDING if upto is None else Q_PENDING.where(LineagePending.event_id <= upto)
            first = s.execute(pending.limit(1)).first()
            if first is None:
                return [], []
            by = first[2]  # one poster's events per round, so the ledger says who reported each run
            q = pending.where(
                LineagePending.accepted_by.is_(None) if by is None else LineagePending.accepted_by == by
            )
            rows = s.execute(q.limit(limit)).all()  # never empty: it holds ``first``
            ids = [int(r[0]) for r in rows]
            uids = list(dict.fromkeys(str(r[1]) for r in rows))
            bodies: dict[str, list[str]] = {u: [] for u in uids}
            for part in chunks(uids):
                for uid, _, _, _, body in s.execute(Q_HELD, {"xs": part}):
                    bodies[uid].append(body)
            token = ACTOR.set(by)
            try:
                Batch(self, s, fold(bodies)).apply()
            finally:
                ACTOR.reset(token)
            self._settle_pending(s, ids)
        return ids, uids

    def _one_folder(self, s: Session) -> None:
        """Folds of runs, from any process, one at a time and on what is committed: a fold reads a
        run's events and captured rows, then writes from them, so two at once would each miss the
        other's (and create the same rows twice)."""
        s.execute(_FOLD_LOCK if self.dialect == "postgresql" else _SQLITE_WRITE_LOCK)

    def pending_lineage_events(self, limit: int) -> list[tuple[int, str, str | None]]:
        """The oldest pending events not marked failed: (event id, run id, who posted it)."""
        with self.session() as s:
            return [(int(i), str(u), by) for i, u, by in s.execute(Q_PENDING.limit(limit))]

    def settle_pending_lineage(self, ids: Sequence[int], failed: str | None = None) -> None:
        """Clear pending events (their runs were folded), or mark them ``failed`` with the reason."""
        with self.session() as s:
            self._settle_pending(s, ids, failed)

    @staticmethod
    def _settle_pending(s: Session, ids: Sequence[int], failed: str | None = None) -> None:
        col = LineagePending.event_id
        for part in chunks(ids):
            if failed is None:
                s.execute(delete(LineagePending).where(col.in_(part)))
            else:
                s.execute(update(LineagePending).where(col.in_(part)).values(failed=failed[:2000]))

    def pending_lineage(self) -> dict[str, Any]:
        """What is acknowledged but not in the catalog yet: events waiting, and those whose fold failed
        (with the first reasons), for ``disgorge coverage``."""
        with self.session() as s:
            rows = s.execute(select(LineagePending.run_uid, LineagePending.failed)).all()
        failed = [(str(u), str(f)) for u, f in rows if f is not None]
        return {
            "waiting": sum(1 for _, f in rows if f is None),
            "failed": len(failed),
            "failed_runs": len({u for u, _ in failed}),
            "failures": [{"run": u, "reason": f} for u, f in sorted(set(failed))[:20]],
        }

    def ingest_lineage(
        self, events: Sequence[RawEvent], fold: Callable[[dict[str, list[str]]], list[CapturedRun]]
    ) -> tuple[list[str], list[CaptureOutcome]]:
        """Store events and apply the re-fold of every run they change, in one transaction.

        ``fold`` gets every stored body of each changed run (a pure function: it may be called before
        anything is committed). Returns the events' statuses (as :meth:`store_lineage_events`) and an
        outcome per changed run, in first-seen order. A failure rolls back the events too."""
        with self.session() as s:
            self._one_folder(s)
            statuses, bodies = self._store_events(s.connection(), events)
            changed = list(
                dict.fromkeys(e[0] for e, st in zip(events, statuses, strict=True) if st != "duplicate")
            )
            runs = fold({u: bodies[u] for u in changed})
            return statuses, Batch(self, s, runs).apply() if runs else []

    def _store_events(
        self, conn: Connection, events: Sequence[RawEvent], *, pending: bool = False
    ) -> tuple[list[str], dict[str, list[str]]]:
        """Statuses, and every body now held per run id (the new ones included), in one read per 900 runs
        and one multi-row insert. ``pending``: the new events are marked for a later fold, and the held
        bodies are neither read nor returned."""
        out: list[str] = []
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, str], set[str]] = {}
        bodies: dict[str, list[str]] = {e[0]: [] for e in events}
        if pending and len(bodies) == 1:  # one event per request, where every statement counts
            (uid,) = bodies
            for etype, etime, digest in conn.execute(Q_KEYS_ONE, {"uid": uid}):
                seen.setdefault((uid, etype, etime), set()).add(digest)
        else:
            for part in chunks(bodies):
                if pending:
                    for uid, etype, etime, digest in conn.execute(Q_KEYS, {"xs": part}):
                        seen.setdefault((uid, etype, etime), set()).add(digest)
                    continue
                for uid, etype, etime, digest, body in conn.execute(Q_HELD, {"xs": part}):
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
        if rows and pending:
            if len(rows) == 1:  # a single-row insert, not the sorted executemany
                ids = [conn.execute(INSERT_EVENT_ID, rows[0]).scalar_one()]
            else:
                ids = list(conn.execute(INSERT_EVENT_IDS, rows).scalars())
            by = ACTOR.get() or self.actor
            marks = [
                {"event_id": i, "run_uid": r["run_uid"], "accepted_by": by}
                for i, r in zip(ids, rows, strict=True)
            ]
            conn.execute(INSERT_PENDING, marks[0] if len(marks) == 1 else marks)
        elif rows:
            conn.execute(INSERT_EVENTS, rows)
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
            self._one_folder(s)
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

    def forget_captured_paths(self, erased: Sequence[str], keyed: Callable[[str], str]) -> int:
        """After an erasure: captured URIs naming erased copies, or folders left with none, become
        keyed hashes in captured rows, raw events and ``captured:`` datasets (``capture_forget.py``)."""
        from disgorge.catalog.capture_forget import forget_captured_paths

        with self.session() as s:
            return forget_captured_paths(s, erased, keyed)

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
