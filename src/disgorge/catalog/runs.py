"""Runs, artifacts (models are artifacts of kind 'model'), typed links and deployments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, or_, select
from sqlalchemy.orm import Session

from disgorge.catalog.datasets import DatasetsMixin
from disgorge.catalog.schema import Artifact, ArtifactCopy, Deployment, Run, utcnow
from disgorge.errors import ConflictError, InputError, NotFoundError
from disgorge.model import ARTIFACT_KINDS, MODEL_RELATIONS


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    uid: str
    name: str
    use: str
    party: str
    status: str


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    id: int
    kind: str
    name: str | None
    sha256: str
    size: int
    run_id: int | None
    uris: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.name or (self.uris[0] if self.uris else f"sha256:{self.sha256[:12]}")


@dataclass(frozen=True, slots=True)
class NewArtifact:
    """One artifact for :meth:`RunsMixin.register_artifacts`."""

    kind: str
    uri: str
    sha256: str
    size: int
    name: str | None = None
    run_id: int | None = None
    """The run that made it (an ``output`` edge)."""
    transform: str | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    parents: tuple[tuple[str, int | str, str], ...] = ()
    """(parent kind, parent id, relation); an artifact parent may be given by its name instead,
    including the name of an artifact in the same batch."""


def _artifact_event(art: Artifact) -> dict[str, Any]:
    return {"artifact_kind": art.kind, "name": art.name, "sha256": art.sha256, "artifact_id": art.id}


def as_uri(path_or_uri: str) -> str:
    return path_or_uri if "://" in path_or_uri else Path(path_or_uri).resolve().as_uri()


class RunsMixin(DatasetsMixin):
    def start_run(self, name: str, *, use: str, party: str, code_version: str | None = None) -> RunInfo:
        with self.session() as s:
            return self._new_run(s, name, use=use, party=party, code_version=code_version)

    def _new_run(
        self, s: Session, name: str, *, use: str, party: str, code_version: str | None, log: bool = True
    ) -> RunInfo:
        uid = str(uuid.uuid4())
        row = {"uid": uid, "name": name, "use": use, "party": party, "code_version": code_version}
        table = cast(Table, Run.__table__)  # Core, not a unit of work: a run start is on a hot path
        run_id = int(s.connection().execute(insert(table).returning(table.c.id), row).scalar_one())
        if log:  # else the caller appends the run's event with others
            self._log(s, "run", {"run": uid, "name": name, "use": use, "party": party})
        return RunInfo(run_id, uid, name, use, party, "running")

    def add_run_input(self, run_id: int, kind: str, node_id: int) -> None:
        with self.session() as s:
            self._link(s, kind, node_id, "run", run_id, "input")

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise NotFoundError(f"run id {run_id} is not in the catalog")
            run.status = status
            run.ended_at = utcnow()

    def register_artifact(
        self,
        *,
        kind: str,
        uri: str,
        sha256: str,
        size: int,
        name: str | None = None,
        run_id: int | None = None,
        transform: str | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> ArtifactInfo:
        """Register derived bytes; the same bytes at another URI become another copy of one artifact."""
        if kind not in ARTIFACT_KINDS:
            raise InputError(f"artifact kind {kind!r} is unknown", hint=f"kinds: {', '.join(ARTIFACT_KINDS)}")
        with self.session() as s:
            art = None
            if name is not None:
                art = s.scalar(select(Artifact).where(Artifact.name == name))
                if art is not None and art.sha256 != sha256:
                    raise ConflictError(
                        f"name {name!r} already names another {art.kind} (sha256 {art.sha256[:12]}…)",
                        hint="register the new bytes under a new name, e.g. NAME-v2",
                    )
            if art is None:
                art = s.scalar(
                    select(Artifact).where(Artifact.sha256 == sha256, Artifact.kind == kind).limit(1)
                )
            created = art is None
            if art is None:
                art = Artifact(
                    kind=kind, name=name, sha256=sha256, size=size, run_id=run_id, transform=transform
                )
                s.add(art)
                s.flush()
                self._log(
                    s,
                    "artifact",
                    {"artifact_kind": kind, "name": name, "sha256": sha256, "artifact_id": art.id},
                )
            elif name is not None and art.name is None:
                art.name = name
            linked = run_id is not None and self._link(s, "run", run_id, "artifact", art.id, "output")
            copied = s.scalar(select(ArtifactCopy.id).where(ArtifactCopy.uri == uri)) is None
            if copied:
                s.add(ArtifactCopy(artifact_id=art.id, uri=uri, size=size, mtime_ns=mtime_ns, inode=inode))
            if (linked or copied) and not created:  # a new copy or maker of known bytes: what an
                self._log(  # erasure of them must now also cover, so the ledger says it changed
                    s, "artifact_copy", {"artifact_id": art.id, "run_id": run_id, "copies": int(copied)}
                )
            s.flush()
            return self._artifact_info(s, art)

    def register_artifacts(
        self, specs: Sequence[NewArtifact], *, finish_runs: Sequence[int] = ()
    ) -> list[ArtifactInfo]:
        """Register several artifacts with their parent links, and finish ``finish_runs``, in one
        transaction (all of it is recorded or none) and a few statements. Ledger events are those of
        :meth:`register_artifact`, in the order of ``specs``. Unlike there, a name is binding: bytes
        already registered under another name are a ConflictError, so a caller that recorded the names
        elsewhere (a manifest) never names something the catalog does not hold under that name."""
        for spec in specs:
            if spec.kind not in ARTIFACT_KINDS:
                raise InputError(
                    f"artifact kind {spec.kind!r} is unknown", hint=f"kinds: {', '.join(ARTIFACT_KINDS)}"
                )
        with self.session() as s:
            by_name: dict[str, Artifact] = {}
            by_sha: dict[tuple[str, str], Artifact] = {}
            names = sorted({sp.name for sp in specs if sp.name is not None})
            shas = sorted({sp.sha256 for sp in specs})
            for i in range(0, len(names), 900):
                by_name.update(
                    (str(a.name), a)
                    for a in s.scalars(select(Artifact).where(Artifact.name.in_(names[i : i + 900])))
                )
            for i in range(0, len(shas), 900):
                q = select(Artifact).where(Artifact.sha256.in_(shas[i : i + 900])).order_by(Artifact.id)
                for a in s.scalars(q):
                    by_sha.setdefault((a.sha256, a.kind), a)
            arts: list[Artifact] = []
            created: list[Artifact] = []
            for spec in specs:
                art = by_name.get(spec.name) if spec.name is not None else None
                if art is None:
                    art = by_sha.get((spec.sha256, spec.kind))
                if art is not None and art.sha256 != spec.sha256:
                    raise ConflictError(
                        f"name {spec.name!r} already names another {art.kind} (sha256 {art.sha256[:12]}…)",
                        hint="register the new bytes under a new name, e.g. NAME-v2",
                    )
                if art is not None and spec.name is not None and art.name not in (None, spec.name):
                    raise ConflictError(
                        f"the bytes of {spec.name!r} are already registered as {art.name!r}",
                        hint=f"name them {art.name!r}",
                    )
                if art is None:
                    art = Artifact(
                        kind=spec.kind,
                        name=spec.name,
                        sha256=spec.sha256,
                        size=spec.size,
                        run_id=spec.run_id,
                        transform=spec.transform,
                    )
                    s.add(art)
                    created.append(art)
                    by_sha[(spec.sha256, spec.kind)] = art
                elif spec.name is not None and art.name is None:
                    art.name = spec.name
                if spec.name is not None:
                    by_name[spec.name] = art
                arts.append(art)
            s.flush()
            ids = {name: a.id for name, a in by_name.items()}
            named = sorted({p[1] for sp in specs for p in sp.parents if isinstance(p[1], str)} - set(ids))
            for i in range(0, len(named), 900):
                pairs = select(Artifact.name, Artifact.id).where(Artifact.name.in_(named[i : i + 900]))
                ids.update((str(n), int(a)) for n, a in s.execute(pairs))
            edges: list[tuple[str, int, str, int, str]] = []
            for spec, art in zip(specs, arts, strict=True):
                if spec.run_id is not None:
                    edges.append(("run", spec.run_id, "artifact", art.id, "output"))
                for kind, ref, relation in spec.parents:
                    if isinstance(ref, str):
                        if ref not in ids:
                            raise NotFoundError(
                                f"artifact {ref!r}, a parent of {art.name!r}, is not in the catalog"
                            )
                        ref = ids[ref]
                    if kind == "artifact" and (relation not in MODEL_RELATIONS or ref == art.id):
                        raise InputError(
                            f"artifact link {relation!r} from id {ref} to {art.name!r} is not allowed"
                        )
                    edges.append((kind, ref, "artifact", art.id, relation))
            self._link_many(s, edges)
            uris = sorted({sp.uri for sp in specs})
            have: set[str] = set()
            for i in range(0, len(uris), 900):
                held_uris = select(ArtifactCopy.uri).where(ArtifactCopy.uri.in_(uris[i : i + 900]))
                have.update(str(u) for u in s.scalars(held_uris))
            copies = []
            for spec, art in zip(specs, arts, strict=True):
                if spec.uri not in have:
                    have.add(spec.uri)
                    copies.append(
                        {
                            "artifact_id": art.id,
                            "uri": spec.uri,
                            "size": spec.size,
                            "mtime_ns": spec.mtime_ns,
                            "inode": spec.inode,
                        }
                    )
            if copies:
                s.connection().execute(insert(cast(Table, ArtifactCopy.__table__)), copies)
            made = {a.id for a in created}
            onto = [cast(int, c["artifact_id"]) for c in copies]
            known = sorted(set(onto) - made)
            if known:  # new copies of known bytes: what an erasure of them must now also cover
                self._log(
                    s, "artifact_copy", {"artifact_ids": known, "copies": sum(a not in made for a in onto)}
                )
            for run_id in finish_runs:
                run = s.get(Run, run_id)
                if run is None:
                    raise NotFoundError(f"run id {run_id} is not in the catalog")
                run.status, run.ended_at = "finished", utcnow()
            self._log_many(s, [("artifact", _artifact_event(a)) for a in created])
            s.flush()
            held: dict[int, list[str]] = {}
            q_copies = select(ArtifactCopy.artifact_id, ArtifactCopy.uri).where(
                ArtifactCopy.artifact_id.in_(sorted({a.id for a in arts}))
            )
            for aid, uri in s.execute(q_copies.order_by(ArtifactCopy.id)):
                held.setdefault(int(aid), []).append(str(uri))
            return [
                ArtifactInfo(a.id, a.kind, a.name, a.sha256, a.size, a.run_id, tuple(held.get(a.id, ())))
                for a in arts
            ]

    @staticmethod
    def _artifact_info(s: object, art: Artifact) -> ArtifactInfo:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        uris = tuple(
            s.scalars(
                select(ArtifactCopy.uri).where(ArtifactCopy.artifact_id == art.id).order_by(ArtifactCopy.id)
            )
        )
        return ArtifactInfo(art.id, art.kind, art.name, art.sha256, art.size, art.run_id, uris)

    def link(self, parent_kind: str, parent_id: int, child_id: int, relation: str) -> None:
        """Record that artifact ``child_id`` was made from a parent (artifact, dataset or asset)."""
        if parent_kind == "artifact" and relation not in MODEL_RELATIONS:
            raise InputError(
                f"relation {relation!r} is unknown", hint=f"relations: {', '.join(MODEL_RELATIONS)}"
            )
        if parent_kind == "artifact" and parent_id == child_id:
            raise InputError("an artifact cannot be its own parent")
        with self.session() as s:
            if self._link(s, parent_kind, parent_id, "artifact", child_id, relation):
                self._log(
                    s,
                    "link",
                    {"src": [parent_kind, parent_id], "dst": ["artifact", child_id], "relation": relation},
                )

    def resolve_artifact(self, ref: str, *, kind: str | None = None) -> ArtifactInfo:
        """Find an artifact by registered name, path/URI of a copy, or sha256 (prefix of 8+ hex digits)."""
        text = ref.removeprefix("sha256:")
        with self.session() as s:
            q = select(Artifact).where(Artifact.name == ref)
            art = s.scalars(q).first()
            if art is None:
                aid = s.scalar(select(ArtifactCopy.artifact_id).where(ArtifactCopy.uri == as_uri(ref)))
                art = s.get(Artifact, aid) if aid is not None else None
            if art is None and len(text) >= 8 and all(c in "0123456789abcdef" for c in text.lower()):
                found = list(
                    s.scalars(select(Artifact).where(Artifact.sha256.startswith(text.lower())).limit(2))
                )
                art = found[0] if len(found) == 1 else None
            if art is None or (kind is not None and art.kind != kind):
                what = kind or "artifact"
                raise NotFoundError(
                    f"{what} {ref!r} is not in the catalog",
                    hint=f"name a registered {what} by its name, its path, or its sha256",
                )
            return self._artifact_info(s, art)

    def get_run(self, ref: str) -> RunInfo:
        with self.session() as s:
            run = s.scalars(
                select(Run).where(or_(Run.uid == ref, Run.name == ref)).order_by(Run.id.desc()).limit(1)
            ).first()
            if run is None:
                raise NotFoundError(f"run {ref!r} is not in the catalog")
            return RunInfo(run.id, run.uid, run.name, run.use, run.party, run.status)

    def add_deployment(self, artifact_id: int, target: str, hook: str | None = None) -> int:
        with self.session() as s:
            existing = s.scalar(
                select(Deployment.id).where(
                    Deployment.artifact_id == artifact_id, Deployment.target == target
                )
            )
            if existing is not None:
                return existing
            d = Deployment(artifact_id=artifact_id, target=target, hook=hook)
            self._log(s, "deployment", {"artifact_id": artifact_id, "target": target})
            s.add(d)
            s.flush()
            return d.id

    def list_artifacts(self, *, kind: str | None = None) -> list[ArtifactInfo]:
        """Artifacts (of one kind) in registration order, each with its copies."""
        with self.session() as s:
            q = select(Artifact).order_by(Artifact.id)
            if kind is not None:
                q = q.where(Artifact.kind == kind)
            return [self._artifact_info(s, a) for a in s.scalars(q)]

    def deployments_of(self, artifact_id: int) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(Deployment).where(Deployment.artifact_id == artifact_id).order_by(Deployment.id)
            return [{"id": d.id, "target": d.target, "hook": d.hook, "state": d.state} for d in s.scalars(q)]
