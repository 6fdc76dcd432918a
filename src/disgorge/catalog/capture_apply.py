"""Applying captured runs to the catalog in one transaction, with a few set-wise lookups per batch.

Order within a batch: runs (with their captured rows and recorded inputs and outputs), then wrapping
inputs that name registered copies as dataset versions, then outputs (models become artifacts), then
inputs (which may resolve to those outputs), then late binding (inputs reported earlier, by any run,
that name a URI an output of this batch now registers), then model parent links. Each step is a handful
of ``IN`` queries, so a batch of thousands of events costs tens of statements, not thousands; and the
queries are built once (expanding parameters), so a batch of one event pays for about a dozen
statements, not for building them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import BindParameter, Table, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from disgorge.catalog.capture_resolve import WRAPPED, Resolution, unknown_reason
from disgorge.catalog.schema import (
    Artifact,
    ArtifactCopy,
    CapturedIO,
    CapturedRunRow,
    Dataset,
    LineagePending,
    Run,
    utcnow,
)
from disgorge.model import MODEL_RELATIONS
from disgorge.model.capture import CapturedDataset, CapturedRun, CaptureOutcome

if TYPE_CHECKING:
    from disgorge.catalog.capture import CaptureMixin

T = TypeVar("T")
Edge5 = tuple[str, int, str, int, str]
XS: BindParameter[Any] = bindparam("xs", expanding=True)
"""The one list parameter of the statements below: built once, each run binds its own chunk."""

Q_RUNS = (
    select(Run, CapturedRunRow)
    .outerjoin(CapturedRunRow, CapturedRunRow.run_id == Run.id)
    .where(Run.uid.in_(XS))
)
Q_IOS = select(CapturedIO).where(CapturedIO.run_id.in_(XS))
Q_ART_COPIES = select(ArtifactCopy.uri, ArtifactCopy.artifact_id).where(ArtifactCopy.uri.in_(XS))
Q_ARTS = select(Artifact).where(Artifact.id.in_(XS))
CLEAR_FAILED = delete(LineagePending).where(
    LineagePending.run_uid.in_(XS), LineagePending.failed.is_not(None)
)
Q_MODELS_BY_SHA = (
    select(Artifact).where(Artifact.sha256.in_(XS), Artifact.kind == "model").order_by(Artifact.id)
)
Q_NAMES = select(Artifact.name).where(Artifact.name.in_(XS))
Q_BY_DIGEST = select(Dataset.digest, Dataset.id).where(Dataset.digest.in_(XS)).order_by(Dataset.id)
Q_BY_NAME = select(Dataset.name, Dataset.version, Dataset.id).where(Dataset.name.in_(XS))
Q_WRITERS = select(CapturedIO.uri, CapturedIO.run_id).where(
    CapturedIO.direction == "output", CapturedIO.uri.in_(XS)
)
Q_READERS = select(CapturedIO).where(CapturedIO.direction == "input", CapturedIO.uri.in_(XS))
Q_ARTIFACT_IO = select(CapturedIO.run_id, CapturedIO.direction, CapturedIO.node_id, CapturedIO.how).where(
    CapturedIO.run_id.in_(XS), CapturedIO.node_kind == "artifact"
)
Q_KINDS = select(Artifact.id, Artifact.kind).where(Artifact.id.in_(XS))


RUNS = cast(Table, Run.__table__)
IO = cast(Table, CapturedIO.__table__)
INSERT_RUNS = insert(RUNS).returning(RUNS.c.id, RUNS.c.uid)
INSERT_CAPTURED = insert(cast(Table, CapturedRunRow.__table__))
ARTS = cast(Table, Artifact.__table__)
ART_KEY = ("name", "sha256", "size", "run_id", "transform")
INSERT_ARTS = insert(ARTS).returning(ARTS.c.id, *(ARTS.c[k] for k in ART_KEY))
"""Matched back by the values inserted, not by row order (which only a sentinel column would make
the ORM's multi-row insert keep): two rows alike in all of them are interchangeable."""
INSERT_COPIES = insert(cast(Table, ArtifactCopy.__table__))
INSERT_IOS = insert(IO)
"""Rows first seen in a batch go in by Core multi-row inserts (the ORM writes them one per statement)."""


class NewIO:
    """A captured input or output first seen in this batch: resolved in memory, inserted at the end."""

    __slots__ = (
        "direction",
        "how",
        "name",
        "namespace",
        "node_id",
        "node_kind",
        "reason",
        "run_id",
        "uri",
        "version",
    )

    def __init__(self, run_id: int, direction: str, namespace: str, name: str, uri: str) -> None:
        self.run_id, self.direction, self.namespace, self.name, self.uri = (
            run_id,
            direction,
            namespace,
            name,
            uri,
        )
        self.version: str | None = None
        self.node_kind: str | None = None
        self.node_id: int | None = None
        self.how: str | None = None
        self.reason: str | None = None

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class NewArtifact:
    """A model first registered in this batch (its id once inserted)."""

    __slots__ = ("id", "name", "row", "run_id", "sha256")

    def __init__(self, row: dict[str, Any]) -> None:
        self.id = -1
        self.name: str | None = row["name"]
        self.sha256: str = row["sha256"]
        self.run_id: int | None = row["run_id"]
        self.row = row


AnyIO = CapturedIO | NewIO


def chunks(items: Iterable[T], n: int = 900) -> Iterator[list[Any]]:
    xs = list(items)
    for i in range(0, len(xs), n):
        yield xs[i : i + n]


def placeholder_sha256(uri: str) -> str:
    """Stands in for a model's sha256 that its producer did not report: distinct per URI, never the hash
    of any bytes, so erasure's identity check refuses to destroy the file until its bytes are registered."""
    import hashlib

    return hashlib.sha256(b"disgorge:unhashed:" + uri.encode()).hexdigest()


def _kept(io: AnyIO) -> Resolution | None:
    """The wrapped dataset version an input is already bound to: kept, not resolved again."""
    if io.node_kind == "dataset" and io.node_id is not None and io.how in WRAPPED:
        return "dataset", int(io.node_id), str(io.how)
    return None


class Batch:
    def __init__(self, store: CaptureMixin, s: Session, runs: Sequence[CapturedRun]) -> None:
        self.store, self.s, self.runs = store, s, runs
        self.edges: list[Edge5] = []
        self.ledger: list[tuple[str, dict[str, Any]]] = []
        self.outcomes: dict[str, CaptureOutcome] = {}
        self.ids: dict[str, int] = {}
        self.uid_of: dict[int, str] = {}
        self.ios: dict[tuple[int, str, str], AnyIO] = {}
        self.art_by_uri: dict[str, int] = {}
        self.model_uris: set[str] = set()
        self.touched: set[int] = set()

    def apply(self) -> list[CaptureOutcome]:
        self._runs()
        self._known_copies()
        wraps = self.store._wrap_inputs(self.s, self.runs, self._bound(), set(self.art_by_uri))
        self._outputs()
        self._inputs(wraps)
        self._late_binding()
        self._model_parents()
        self.s.flush()
        new = [io.row() for io in self.ios.values() if isinstance(io, NewIO)]
        if new:
            self.s.connection().execute(INSERT_IOS, new)
        self.store._log_many(self.s, self.ledger)
        self.store._link_many(self.s, self.edges)
        for part in chunks(self.outcomes):  # a run that folds now is no failed fold any more: the
            self.s.execute(CLEAR_FAILED, {"xs": part})  # planner and coverage stop warning of it
        return [self.outcomes[r.uid] for r in self.runs]

    def _runs(self) -> None:
        """Upsert the runs and their captured rows; load what existing runs recorded before."""
        s = self.s
        rows: dict[str, Run] = {}
        caps: dict[int, CapturedRunRow] = {}
        last = {r.uid: r for r in self.runs}  # a run named twice: the later record wins, but a start
        started = {r.uid: r.started_at for r in self.runs if r.started_at is not None}  # is never erased
        for part in chunks(last):
            for found, held in s.execute(Q_RUNS, {"xs": part}):
                rows[found.uid] = found
                if held is not None:
                    caps[found.id] = held
        for run in self.runs:
            row = rows.get(run.uid)
            if row is None:
                continue
            row.name, row.use, row.party, row.status = run.name[:200], run.use, run.party, run.status
            if run.started_at is not None:
                row.started_at = run.started_at
            row.ended_at = run.ended_at
        self.ids = {uid: row.id for uid, row in rows.items()}
        fresh = [r for uid, r in last.items() if uid not in rows]
        if fresh:
            now = utcnow()
            values = [
                {
                    "uid": r.uid,
                    "name": r.name[:200],
                    "use": r.use,
                    "party": r.party,
                    "code_version": None,
                    "status": r.status,
                    "started_at": started.get(r.uid, now),
                    "ended_at": r.ended_at,
                }
                for r in fresh
            ]
            self.ids.update((str(uid), int(rid)) for rid, uid in s.connection().execute(INSERT_RUNS, values))
            s.connection().execute(INSERT_CAPTURED, [self._captured(self.ids[r.uid], r) for r in fresh])
        self.ledger += [
            ("run", {"run": r.uid, "name": r.name[:200], "use": r.use, "party": r.party, "captured": True})
            for r in fresh
        ]
        new = {r.uid for r in fresh}
        self.uid_of = {rid: uid for uid, rid in self.ids.items()}
        self.outcomes = {r.uid: CaptureOutcome(self.ids[r.uid], r.uid in new) for r in self.runs}
        self.touched = set(self.ids.values())
        for part in chunks(row.id for row in rows.values()):  # a new run has recorded nothing yet
            for io in s.scalars(Q_IOS, {"xs": part}):
                self.ios[(io.run_id, io.direction, io.uri)] = io
        for run in self.runs:
            if run.uid in new:
                continue
            rid = self.ids[run.uid]
            cap = caps.get(rid)
            if cap is None:
                cap = caps[rid] = CapturedRunRow(run_id=rid, source=run.source, external_id=run.uid[:200])
                s.add(cap)
            for key, value in self._captured(rid, run).items():
                if key not in ("run_id", "source", "external_id"):
                    setattr(cap, key, value)

    @staticmethod
    def _captured(rid: int, run: CapturedRun) -> dict[str, Any]:
        return {
            "run_id": rid,
            "source": run.source,
            "external_id": run.uid[:200],
            "producer": run.producer[:2000],
            "job_namespace": run.job_namespace[:1000] if run.job_namespace else None,
            "job_name": run.job_name[:1000] if run.job_name else None,
            "parent_uid": run.parent_uid,
            "events": run.events,
        }

    def _bound(self) -> set[tuple[str, str]]:
        """(run uid, input URI) already bound to a wrapped dataset version (see ``_kept``)."""
        return {
            (self.uid_of[rid], uri)
            for (rid, direction, uri), io in self.ios.items()
            if direction == "input" and io.how in WRAPPED
        }

    def _known_copies(self) -> None:
        """The registered model and artifact copies at any URI the batch names, in one lookup."""
        uris = {ds.uri for r in self.runs for ds in (*r.inputs, *r.outputs)}
        for part in chunks(uris):
            self.art_by_uri.update((str(u), int(a)) for u, a in self.s.execute(Q_ART_COPIES, {"xs": part}))

    def _io(self, run_id: int, direction: str, ds: CapturedDataset) -> AnyIO:
        key = (run_id, direction, ds.uri)
        io = self.ios.get(key)
        if io is None:
            io = self.ios[key] = NewIO(run_id, direction, ds.namespace[:1000], ds.name, ds.uri)
        io.version = ds.version[:200] if ds.version else None
        return io

    def _outputs(self) -> None:
        s = self.s
        models = [(r, ds) for r in self.runs for ds in r.outputs if ds.is_model]
        arts: dict[int, Artifact] = {}
        by_sha: dict[str, Artifact | NewArtifact] = {}
        taken: set[str] = set()
        ids = {self.art_by_uri[ds.uri] for _, ds in models if ds.uri in self.art_by_uri}
        for part in chunks(ids):
            arts.update((a.id, a) for a in s.scalars(Q_ARTS, {"xs": part}))
        for part in chunks({ds.sha256 for _, ds in models if ds.sha256}):
            for a in s.scalars(Q_MODELS_BY_SHA, {"xs": part}):
                by_sha.setdefault(a.sha256, a)
        for part in chunks({ds.model_name for _, ds in models if ds.model_name}):
            taken.update(str(n) for n in s.scalars(Q_NAMES, {"xs": part}))
        created: list[NewArtifact] = []
        placed: list[tuple[int, CapturedDataset, Artifact | NewArtifact]] = []
        for run in self.runs:
            rid = self.ids[run.uid]
            for ds in run.outputs:
                if not ds.is_model:
                    self._io(rid, "output", ds)
                    continue
                art: Artifact | NewArtifact | None = arts.get(self.art_by_uri.get(ds.uri, -1)) or (
                    by_sha.get(ds.sha256) if ds.sha256 else None
                )
                if art is None:
                    name = ds.model_name if ds.model_name and ds.model_name not in taken else None
                    art = NewArtifact(
                        {
                            "kind": "model",
                            "name": name,
                            "sha256": ds.sha256 or placeholder_sha256(ds.uri),
                            "size": ds.size or 0,
                            "run_id": rid,
                            "transform": "captured" if ds.sha256 else "captured:unhashed",
                        }
                    )
                    created.append(art)
                    if name:
                        taken.add(name)
                    if ds.sha256:
                        by_sha[ds.sha256] = art
                placed.append((rid, ds, art))
        if created:
            given: dict[tuple[Any, ...], list[int]] = {}
            for aid, *key in s.connection().execute(INSERT_ARTS, [n.row for n in created]):
                given.setdefault(tuple(key), []).append(int(aid))
            for n in created:
                n.id = given[tuple(n.row[k] for k in ART_KEY)].pop()
        self.ledger += [
            ("artifact", {"artifact_kind": "model", "name": a.name, "sha256": a.sha256, "artifact_id": a.id})
            for a in created
        ]
        copies: list[dict[str, Any]] = []
        for rid, ds, art in placed:
            if ds.uri not in self.art_by_uri:
                copies.append({"artifact_id": art.id, "uri": ds.uri, "size": ds.size or 0})
                self.art_by_uri[ds.uri] = art.id
            if art.run_id is None:
                art.run_id = rid
            io = self._io(rid, "output", ds)
            io.how = "model" if ds.relation == MODEL_RELATIONS[0] else f"model:{ds.relation}"[:24]
            io.node_kind, io.node_id = "artifact", art.id
            self.edges.append(("run", rid, "artifact", art.id, "output"))
            self.outcomes[self.uid_of[rid]].models.append(art.name or ds.uri)
            self.model_uris.add(ds.uri)
        if copies:
            s.connection().execute(INSERT_COPIES, copies)

    def _datasets(self) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
        inputs = [ds for r in self.runs for ds in r.inputs]
        by_digest: dict[str, int] = {}
        by_name: dict[str, list[tuple[int, int]]] = {}
        for part in chunks({ds.digest for ds in inputs if ds.digest}):
            for d, i in self.s.execute(Q_BY_DIGEST, {"xs": part}):
                by_digest.setdefault(str(d), int(i))
        for part in chunks({ds.dataset_ref.partition("@")[0] for ds in inputs if ds.dataset_ref}):
            for n, v, i in self.s.execute(Q_BY_NAME, {"xs": part}):
                by_name.setdefault(str(n), []).append((int(v), int(i)))
        return by_digest, by_name

    def _direct(
        self, ds: CapturedDataset, by_digest: dict[str, int], by_name: dict[str, list[tuple[int, int]]]
    ) -> Resolution | None:
        if ds.digest is not None:
            found = by_digest.get(ds.digest)
            if found is None:
                return None, None, f"manifest digest {ds.digest[:16]}… is not a registered dataset version"
            return "dataset", found, "manifest_digest"
        if ds.dataset_ref is not None:
            name, _, version = ds.dataset_ref.partition("@")
            versions = sorted(by_name.get(name, []))
            pick = [i for v, i in versions if str(v) == version] if version else [i for _, i in versions[-1:]]
            if not pick:
                return None, None, f"dataset {ds.dataset_ref} is not in the catalog"
            return "dataset", pick[0], "dataset_version"
        if ds.uri in self.art_by_uri:
            return "artifact", self.art_by_uri[ds.uri], "artifact_copy"
        return None

    def _writers(self, uris: Iterable[str]) -> dict[str, set[int]]:
        """Runs that wrote each URI: recorded before, or in this batch."""
        wanted = set(uris)
        out: dict[str, set[int]] = {}
        for part in chunks(wanted):
            for u, r in self.s.execute(Q_WRITERS, {"xs": part}):
                out.setdefault(str(u), set()).add(int(r))
        for (rid, direction, uri), io in self.ios.items():
            if direction == "output" and isinstance(io, NewIO) and uri in wanted:
                out.setdefault(uri, set()).add(rid)
        return out

    def _inputs(self, wraps: dict[str, Resolution]) -> None:
        by_digest, by_name = self._datasets()
        pending: list[tuple[CapturedRun, CapturedDataset, AnyIO, Resolution | None]] = []
        for run in self.runs:
            for ds in run.inputs:
                io = self._io(self.ids[run.uid], "input", ds)
                pending.append(
                    (run, ds, io, self._direct(ds, by_digest, by_name) or _kept(io) or wraps.get(ds.uri))
                )
        writers = self._writers(ds.uri for _, ds, _, found in pending if found is None)
        for run, ds, io, found in pending:
            rid, outcome = self.ids[run.uid], self.outcomes[run.uid]
            if found is None:
                others = sorted(writers.get(ds.uri, set()) - {rid})
                found = ("run", others[0], "run_output") if others else (None, None, unknown_reason(ds))
                self.edges += [("run", w, "run", rid, "fed") for w in others]
            kind, node, how = found
            if kind is None or node is None:
                if io.node_kind is None:  # an input bound later (by another run's output) stays bound
                    io.reason = how[:500]
                    outcome.unknown.append((ds.uri, how))
                continue
            io.node_kind, io.node_id, io.how, io.reason = kind, node, how, None
            if kind != "run":
                self.edges.append((kind, node, "run", rid, "input"))
            outcome.resolved.append((ds.uri, kind, how))

    def _late_binding(self) -> None:
        """Inputs reported before anything registered their URI now resolve to this batch's outputs."""
        outputs: dict[str, set[int]] = {}
        for (rid, direction, uri), _io in self.ios.items():
            if direction == "output":
                outputs.setdefault(uri, set()).add(rid)
        readers: list[AnyIO] = [
            io
            for (_, direction, uri), io in self.ios.items()
            if direction == "input" and isinstance(io, NewIO) and uri in outputs
        ]
        for part in chunks(outputs):
            readers += self.s.scalars(Q_READERS, {"xs": part}).all()
        for io in readers:
            if io.uri in self.model_uris:
                if io.node_kind in (None, "run"):
                    art = self.art_by_uri[io.uri]
                    io.node_kind, io.node_id, io.how, io.reason = "artifact", art, "artifact_copy", None
                    self.edges.append(("artifact", art, "run", io.run_id, "input"))
                    self.touched.add(io.run_id)
                continue
            writers = sorted(outputs[io.uri] - {io.run_id})
            self.edges += [("run", w, "run", io.run_id, "fed") for w in writers]
            if writers and io.node_kind is None:
                io.node_kind, io.node_id, io.how, io.reason = "run", writers[0], "run_output", None

    def _model_parents(self) -> None:
        """Models a run wrote are children of the models it read (by the output's relation). What the
        batch's own runs read and wrote is in memory; only runs bound late are looked up."""
        read: dict[int, list[int]] = {}
        wrote: dict[int, list[tuple[int, str]]] = {}

        def note(rid: int, direction: str, node: int | None, how: str | None) -> None:
            if node is None:
                return
            if direction == "input":
                read.setdefault(rid, []).append(node)
            else:
                rel = str(how).partition(":")[2] or MODEL_RELATIONS[0]
                wrote.setdefault(rid, []).append((node, rel))

        for (rid, direction, _), io in self.ios.items():
            if io.node_kind == "artifact":
                note(rid, direction, io.node_id, io.how)
        for part in chunks(self.touched - set(self.uid_of)):
            for rid, direction, node, how in self.s.execute(Q_ARTIFACT_IO, {"xs": part}):
                note(int(rid), str(direction), None if node is None else int(node), how)
        runs = set(read) & set(wrote)
        ids = {i for r in runs for i in read[r]} | {i for r in runs for i, _ in wrote[r]}
        kinds: dict[int, str] = {}
        for part in chunks(ids):
            kinds.update((int(i), str(k)) for i, k in self.s.execute(Q_KINDS, {"xs": part}))
        for r in runs:
            for parent in read[r]:
                for child, rel in wrote[r]:
                    if parent != child and kinds.get(parent) == "model" and kinds.get(child) == "model":
                        self.edges.append(("artifact", parent, "artifact", child, rel))
