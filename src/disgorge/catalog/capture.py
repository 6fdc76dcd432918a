"""Captured lineage in the catalog: raw OpenLineage events, and runs other systems reported, folded in.

Applying a captured run is idempotent and order-independent: the run row, its inputs and outputs are
upserted from the fold of everything received so far, and an output registered now binds the inputs of
other runs that named the same URI before it was known, so a replay in any order gives one catalog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from disgorge.catalog.capture_resolve import (
    Resolution,
    copy_members,
    find_direct,
    unknown_reason,
    wrap_name,
    written_by,
)
from disgorge.catalog.ledger import LedgerMixin
from disgorge.catalog.schema import (
    Artifact,
    ArtifactCopy,
    CapturedIO,
    CapturedRunRow,
    LineageEvent,
    Run,
)
from disgorge.model import MODEL_RELATIONS
from disgorge.model.capture import CapturedDataset, CapturedRun, CaptureOutcome

RawEvent = tuple[str, str, str, str, str, str]
"""(run uid, event type, event time, producer, sha256 of the body, canonical JSON body)."""


def placeholder_sha256(uri: str) -> str:
    """Stands in for a model's sha256 that its producer did not report: distinct per URI, never the hash
    of any bytes, so erasure's identity check refuses to destroy the file until its bytes are registered."""
    return hashlib.sha256(b"disgorge:unhashed:" + uri.encode()).hexdigest()


class CaptureMixin(LedgerMixin):
    def store_lineage_events(self, events: Sequence[RawEvent]) -> list[str]:
        """Store events as received, once per (run id, type, time): ``stored``, ``duplicate`` (that key
        with that body again) or ``conflict`` (that key with another body: kept beside the first, since
        keeping either alone would make the fold depend on arrival order)."""
        out: list[str] = []
        with self.session() as s:
            seen: dict[tuple[str, str, str], set[str]] = {}
            for uid, etype, etime, producer, digest, body in events:
                key = (uid, etype, etime)
                if key not in seen:
                    seen[key] = set(
                        s.scalars(
                            select(LineageEvent.digest).where(
                                LineageEvent.run_uid == uid,
                                LineageEvent.event_type == etype,
                                LineageEvent.event_time == etime,
                            )
                        )
                    )
                digests = seen[key]
                if digest in digests:
                    out.append("duplicate")
                    continue
                out.append("conflict" if digests else "stored")
                digests.add(digest)
                s.add(
                    LineageEvent(
                        run_uid=uid,
                        event_type=etype,
                        event_time=etime,
                        producer=producer[:2000],
                        digest=digest,
                        body=body,
                    )
                )
        return out

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

    def apply_captured_run(self, run: CapturedRun) -> CaptureOutcome:
        """Upsert a captured run, resolve its inputs and register its models (see the module doc)."""
        wraps = self._wrap_inputs(run.inputs)
        with self.session() as s:
            row = s.scalar(select(Run).where(Run.uid == run.uid))
            created = row is None
            if row is None:
                row = Run(uid=run.uid, name=run.name[:200], use=run.use, party=run.party)
                s.add(row)
                s.flush()
                self._log(
                    s,
                    "run",
                    {"run": run.uid, "name": row.name, "use": run.use, "party": run.party, "captured": run.source},
                )
            row.name, row.use, row.party, row.status = run.name[:200], run.use, run.party, run.status
            if run.started_at is not None:
                row.started_at = run.started_at
            row.ended_at = run.ended_at
            self._captured_row(s, row.id, run)
            outcome = CaptureOutcome(row.id, created)
            for ds in run.inputs:
                self._apply_input(s, row.id, ds, wraps.get(ds.uri), outcome)
            for ds in run.outputs:
                self._apply_output(s, row.id, ds, outcome)
            self._link_model_parents(s, row.id)
            return outcome

    def _wrap_inputs(self, inputs: Sequence[CapturedDataset]) -> dict[str, Resolution]:
        """Inputs that name registered copies become dataset versions, each in its own transaction,
        before the run's (a dataset version is content-addressed: the same copies give the same one)."""
        out: dict[str, Resolution] = {}
        for ds in inputs:
            with self.session() as s:
                if find_direct(s, ds) is not None:
                    continue
                members, how = copy_members(s, ds.uri)
            if members:
                info, _ = self.create_dataset(
                    wrap_name(ds.uri), members, query=f"registered copies at {ds.uri} ({how})"
                )
                out[ds.uri] = ("dataset", info.id, how)
        return out

    def _captured_row(self, s: Session, run_id: int, run: CapturedRun) -> None:
        cap = s.get(CapturedRunRow, run_id)
        if cap is None:
            cap = CapturedRunRow(run_id=run_id, source=run.source, external_id=run.uid[:200])
            s.add(cap)
        cap.producer = run.producer[:2000]
        cap.job_namespace = run.job_namespace[:1000] if run.job_namespace else None
        cap.job_name = run.job_name[:1000] if run.job_name else None
        cap.parent_uid = run.parent_uid
        cap.events = run.events

    def _io_row(self, s: Session, run_id: int, direction: str, ds: CapturedDataset) -> CapturedIO:
        io = s.scalar(
            select(CapturedIO).where(
                CapturedIO.run_id == run_id, CapturedIO.direction == direction, CapturedIO.uri == ds.uri
            )
        )
        if io is None:
            io = CapturedIO(
                run_id=run_id, direction=direction, namespace=ds.namespace[:1000], name=ds.name, uri=ds.uri
            )
            s.add(io)
        io.version = ds.version[:200] if ds.version else None
        return io

    def _apply_input(
        self, s: Session, run_id: int, ds: CapturedDataset, wrap: Resolution | None, outcome: CaptureOutcome
    ) -> None:
        io = self._io_row(s, run_id, "input", ds)
        found = find_direct(s, ds) or wrap
        if found is None:
            writers = written_by(s, ds.uri, run_id)
            found = ("run", writers[0], "run_output") if writers else (None, None, unknown_reason(ds))
            for w in writers:
                self._link(s, "run", w, "run", run_id, "fed")
        kind, node, how = found
        if kind is None:
            if io.node_kind is None:  # an input bound later (by another run's output) stays bound
                io.reason = how[:500]
                outcome.unknown.append((ds.uri, how))
            return
        io.node_kind, io.node_id, io.how, io.reason = kind, node, how, None
        if kind != "run":
            self._link(s, kind, node, "run", run_id, "input")
        outcome.resolved.append((ds.uri, kind, how))

    def _apply_output(self, s: Session, run_id: int, ds: CapturedDataset, outcome: CaptureOutcome) -> None:
        io = self._io_row(s, run_id, "output", ds)
        s.flush()
        if not ds.is_model:
            self._bind_later(s, ds.uri, "run", run_id, "run_output")
            return
        art_id = s.scalar(select(ArtifactCopy.artifact_id).where(ArtifactCopy.uri == ds.uri).limit(1))
        art = s.get(Artifact, art_id) if art_id is not None else None
        if art is None and ds.sha256 is not None:
            art = s.scalar(
                select(Artifact).where(Artifact.sha256 == ds.sha256, Artifact.kind == "model").limit(1)
            )
        if art is None:
            name = ds.model_name
            if name is not None and s.scalar(select(Artifact.id).where(Artifact.name == name)) is not None:
                name = None  # a name another model holds is not taken over by an outside report
            art = Artifact(
                kind="model",
                name=name,
                sha256=ds.sha256 or placeholder_sha256(ds.uri),
                size=ds.size or 0,
                run_id=run_id,
                transform="captured" if ds.sha256 else "captured:unhashed",
            )
            s.add(art)
            s.flush()
            self._log(
                s,
                "artifact",
                {"artifact_kind": "model", "name": art.name, "sha256": art.sha256, "artifact_id": art.id},
            )
        if art.run_id is None:
            art.run_id = run_id
        if s.scalar(select(ArtifactCopy.id).where(ArtifactCopy.uri == ds.uri)) is None:
            s.add(ArtifactCopy(artifact_id=art.id, uri=ds.uri, size=ds.size or 0))
        self._link(s, "run", run_id, "artifact", art.id, "output")
        io.node_kind, io.node_id, io.how = "artifact", art.id, "model"
        outcome.models.append(art.name or ds.uri)
        self._bind_later(s, ds.uri, "artifact", art.id, "artifact_copy")

    def _bind_later(self, s: Session, uri: str, kind: str, node: int, how: str) -> None:
        """Inputs of other runs that named ``uri`` before anything registered it now resolve to it."""
        s.flush()
        rows = s.scalars(
            select(CapturedIO).where(CapturedIO.direction == "input", CapturedIO.uri == uri)
        ).all()
        for io in rows:
            if kind == "run" and io.run_id == node:
                continue
            if kind == "run":
                self._link(s, "run", node, "run", io.run_id, "fed")
                if io.node_kind is not None:
                    continue
            elif io.node_kind not in (None, "run"):
                continue
            io.node_kind, io.node_id, io.how, io.reason = kind, node, how, None
            if kind != "run":
                self._link(s, kind, node, "run", io.run_id, "input")
                self._link_model_parents(s, io.run_id)

    def _link_model_parents(self, s: Session, run_id: int) -> None:
        """Models a run wrote are children of the models it read (``fine_tuned_from``)."""
        s.flush()
        ios = s.scalars(
            select(CapturedIO).where(CapturedIO.run_id == run_id, CapturedIO.node_kind == "artifact")
        ).all()
        read = [io.node_id for io in ios if io.direction == "input" and io.node_id is not None]
        wrote = [io.node_id for io in ios if io.direction == "output" and io.node_id is not None]
        if not read or not wrote:
            return
        kinds = dict(s.execute(select(Artifact.id, Artifact.kind).where(Artifact.id.in_(read + wrote))).all())
        for parent in read:
            if kinds.get(parent) != "model":
                continue
            for child in wrote:
                if child != parent and kinds.get(child) == "model":
                    self._link(s, "artifact", parent, "artifact", child, MODEL_RELATIONS[0])

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
            caps = {
                int(c.run_id): c
                for c in s.scalars(select(CapturedRunRow).where(CapturedRunRow.run_id.in_(list(runs) or [0])))
            }
            ios = s.execute(
                select(CapturedIO.run_id, CapturedIO.direction, CapturedIO.node_kind).where(
                    CapturedIO.run_id.in_(list(runs) or [0])
                )
            ).all()
        out: list[dict[str, Any]] = []
        counts: dict[int, list[int]] = {}
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
