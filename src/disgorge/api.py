"""The Python facade: ``disgorge.open()`` returns a :class:`Catalog` bound to a home.

A home (``$DISGORGE_HOME``, default ``./.disgorge``) holds the SQLite catalog and the keys, each
readable by its owner only; ``$DISGORGE_CATALOG`` (a SQLAlchemy URL) moves the catalog to PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import types
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from disgorge.catalog import CatalogStore, as_uri
from disgorge.errors import InputError, UsageError
from disgorge.facade import AdminMixin
from disgorge.model import DatasetRef, RunInput, check_relation
from disgorge.settings import Home, bind_pseudonym_key

if TYPE_CHECKING:  # capabilities load when first used, so a command pays only for what it touches
    from disgorge.catalog import ArtifactInfo, DatasetInfo, RunInfo, SourceInfo
    from disgorge.client import RemoteCatalog
    from disgorge.enforcement import CheckReport, ExportResult
    from disgorge.ingest import IngestOptions
    from disgorge.model import IngestSummary
    from disgorge.model.roles import Principal
    from disgorge.storage import StorageConfig
    from disgorge.trust import Identity


@overload
def open(
    home: str | os.PathLike[str] | None = None,
    *,
    catalog_url: str | None = None,
    identity: Identity | str | os.PathLike[str] | bool | None = None,
) -> Catalog: ...


@overload
def open(*, url: str, token: str | None = None) -> RemoteCatalog: ...


def open(
    home: str | os.PathLike[str] | None = None,
    *,
    catalog_url: str | None = None,
    identity: Identity | str | os.PathLike[str] | bool | None = None,
    url: str | None = None,
    token: str | None = None,
) -> Catalog | RemoteCatalog:
    """Open a Disgorge home and its catalog, creating both on first use; or, with ``url``, a server's
    catalog acting as ``token`` (default ``$DISGORGE_TOKEN``).

    ``identity`` is who acts: an :class:`~disgorge.trust.Identity`, the path of an identity file, or
    None for ``$DISGORGE_IDENTITY`` (default ``~/.config/disgorge/identity``) if it exists; False for
    nobody. On a catalog with a roster, every action needs a member's identity with the right role."""
    if url is not None:
        from disgorge.client import RemoteCatalog

        return RemoteCatalog(url, token)
    from disgorge.trust import Identity, load_default

    who: Identity | None
    if identity is None or identity is True:
        who = load_default()
    elif identity is False:
        who = None
    elif isinstance(identity, Identity):
        who = identity
    else:
        who = Identity.load(Path(identity))
    h = Home.resolve(home, catalog_url)
    if h.path.exists() and not h.path.is_dir():
        raise UsageError(f"Disgorge home {h.path} is not a folder", hint="set DISGORGE_HOME to a folder")
    h.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = CatalogStore(h.catalog_url)
    try:
        store.hasher = bind_pseudonym_key(store, h)
        from disgorge.proof import SigningIdentity
        from disgorge.shared import LOG, bind_log_identity

        keys = h.path / "keys"
        if not (keys / "origin.txt").exists() and store.settings.get(LOG) is not None:
            from disgorge.errors import ConflictError
            from disgorge.settings import SHARE_KEY_HINT

            raise ConflictError(
                f"the catalog's ledger is signed by another home's key, and this home ({h.path}) has none",
                hint=SHARE_KEY_HINT,
            )
        ident = SigningIdentity.ensure(keys)
        bind_log_identity(store, ident.origin, ident.trusted())
        return Catalog(h, store, who)
    except BaseException:
        store.close()
        raise


class Catalog(AdminMixin):
    """What a Python ML team holds: register data, capture lineage, ask what came from what."""

    def __init__(self, home: Home, store: CatalogStore, identity: Identity | None = None) -> None:
        from disgorge.access import resolve

        self.home = home
        self.store = store
        self.identity = identity
        self.principal: Principal = resolve(store, identity)
        store.actor = self.principal.name or None

    def acting_as(self, principal: Principal) -> Catalog:
        """This catalog for one request of the server: the same store and caches, another principal.

        The view is never closed; the server closes the catalog it was made from."""
        view = object.__new__(Catalog)
        view.__dict__.update(self.__dict__)
        view.identity = None
        view.principal = principal
        return view

    def init(self) -> dict[str, Any]:
        """Claim an unclaimed catalog: the caller's identity becomes its first admin (with every role)."""
        from disgorge.access import RosterService, resolve

        claimed = self.identity is not None and RosterService(self.store).genesis(self.identity)
        if claimed:
            self.principal = resolve(self.store, self.identity)
            self.store.actor = self.principal.name
        return {
            "admin_claimed": bool(claimed),
            "principal": self.principal.name,
            "roles": sorted(self.principal.roles),
        }

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        storage: StorageConfig | None = self.__dict__.pop("_storage", None)
        if storage is not None:
            storage.close()
        self.store.close()

    # provenance
    def add_source(
        self,
        name: str,
        *,
        notice: Path | bytes,
        uses: Sequence[str],
        recipients: Sequence[str] = (),
        categories: Sequence[str] = (),
        controller: str | None = None,
        legal_basis: str | None = None,
        effective_from: datetime | None = None,
    ) -> tuple[SourceInfo, bool]:
        self._may("source.write")
        text = notice if isinstance(notice, bytes) else _read_notice(notice)
        return self.store.add_source(
            name,
            notice_sha256=hashlib.sha256(text).hexdigest(),
            uses=uses,
            recipients=recipients,
            categories=categories,
            controller=controller,
            legal_basis=legal_basis,
            effective_from=effective_from,
        )

    def ingest(
        self,
        path: Path | str,
        opts: IngestOptions,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Register a local file or folder, or every object under an ``s3://bucket/prefix`` (hashed by
        ``opts.engine``: this machine's process pool, or Ray)."""
        self._may("ingest")
        s3 = isinstance(path, str) and path.startswith("s3://")
        if opts.engine not in ("local", "ray"):
            raise UsageError(f"--engine {opts.engine!r} is unknown", hint="use local or ray")
        if not s3 and opts.engine != "local":
            raise UsageError(
                f"--engine {opts.engine} hashes s3:// prefixes; {path} is hashed by this machine's cores",
                hint="leave out --engine for local files, or give s3://bucket/prefix",
            )
        local = Path(path)
        if not s3 and not local.exists():
            raise InputError(f"ingest path {path} does not exist", hint="give a file or folder to register")
        from disgorge.ingest import ingest
        from disgorge.scan.guard import Guard

        guard = Guard(self.store, self.indexes, allow_near=opts.allow_near_erased)
        try:
            if s3:
                from disgorge.engines import EngineOptions, ingest_s3

                eng = EngineOptions(opts.engine, opts.workers)
                return ingest_s3(
                    self.store, self.indexes, str(path), opts, guard, self.storage_config.s3, eng
                )
            return ingest(self.store, local, opts, progress=progress, guard=guard)
        finally:
            guard.close()

    # datasets
    def create_dataset(
        self,
        name: str,
        *,
        source: str | None = None,
        from_dataset: str | None = None,
        where: str | None = None,
        manifest: Path | None = None,
        entries: Sequence[str] | None = None,
    ) -> tuple[DatasetInfo, bool]:
        """A dataset version from a source, another version (filtered by ``where``), a manifest file,
        or ``entries`` (sha256 values or registered paths: a manifest sent to the server)."""
        self._may("dataset.write")
        if sum(x is not None for x in (source, from_dataset, manifest, entries)) != 1:
            raise UsageError("give exactly one of --source, --from or --manifest")
        if where is not None and from_dataset is None and source is None:
            raise UsageError("--where filters --from or --source members")
        parent: DatasetInfo | None = None
        if source is not None:
            members = self.store.source_members(self.store.get_source(source).id)
        elif from_dataset is not None:
            parent = self.store.get_dataset(from_dataset)
            members = self.store.members(parent.id)
        elif entries is not None:
            members = self.store.members_from_manifest(list(entries), origin="the request's manifest")
        else:
            assert manifest is not None
            try:
                lines = manifest.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"manifest {manifest}: cannot read it ({exc})") from exc
            lines = [
                ln.split(",")[0] for ln in lines if ln.strip() and ln.split(",")[0] not in ("sha256", "path")
            ]
            members = self.store.members_from_manifest(lines, origin=str(manifest))
        if where:
            members = self.store.filter_members(members, where)
        return self.store.create_dataset(
            name, members, derived_from=parent.id if parent else None, query=where
        )

    # lineage capture
    def run(
        self,
        name: str,
        *,
        use: str,
        party: str,
        inputs: Sequence[str] = (),
        code_version: str | None = None,
        enforce: bool = True,
        compliant_subset: bool = False,
        at: datetime | None = None,
    ) -> RunContext:
        """Open a run. Its inputs (and the training data behind input models) are checked first; a
        violation raises PolicyDenied before any byte is read, unless ``compliant_subset`` derives, for
        each violating dataset, a new dataset of the allowed members and reads that instead.

        ``enforce=False`` records a run that already happened (its decision is still recorded).
        """
        self._may("run.write")
        from disgorge.enforcement import check_datasets, denial, training_datasets

        report: CheckReport | None = None
        with self.store.reading():  # one connection and one transaction for the checks and the start
            known: dict[int, DatasetInfo] = {}
            resolved = [self._resolve_input(RunInput.parse(i), readable=enforce, known=known) for i in inputs]
            datasets = training_datasets(self.store, resolved, known=known)
            if datasets:
                report = check_datasets(
                    self.store, datasets, use=use, recipient=party, policy=self.policy, at=at
                )
            if report is None or report.ok or not enforce:
                info = self.store.start_checked_run(
                    name,
                    use=use,
                    party=party,
                    code_version=code_version,
                    inputs=resolved,
                    rec=report.record("run") if report is not None else None,
                )
                return RunContext(self, info, resolved, report)
        assert report is not None  # refused, unless a compliant subset is allowed
        if compliant_subset:
            resolved, report = self._compliant_inputs(resolved, use=use, party=party, at=at)
        if not report.ok:
            self.store.record_decision(report.record("run"))
            raise denial(report, f"run {name!r}")
        info = self.store.start_checked_run(
            name,
            use=use,
            party=party,
            code_version=code_version,
            inputs=resolved,
            rec=report.record("run"),
        )
        return RunContext(self, info, resolved, report)

    def _compliant_inputs(
        self, resolved: list[tuple[str, int]], *, use: str, party: str, at: datetime | None
    ) -> tuple[list[tuple[str, int]], CheckReport]:
        from disgorge.enforcement import check_datasets, subset_name, training_datasets

        out: list[tuple[str, int]] = []
        for kind, node_id in resolved:
            if kind != "dataset":
                out.append((kind, node_id))
                continue
            ds = next(d for d in self.store.list_datasets() if d.id == node_id)
            rep = check_datasets(self.store, [ds], use=use, recipient=party, policy=self.policy, at=at)
            if rep.ok:
                out.append((kind, node_id))
                continue
            sub, _ = self.store.create_dataset(
                subset_name(ds.name, use, party),
                rep.allowed,
                derived_from=ds.id,
                query=f"compliant for {use} by {party} under policy {self.policy.version} (decision {rep.decision_uid})",
            )
            self.store.record_decision(rep.record("subset"))
            out.append(("dataset", sub.id))
        datasets = training_datasets(self.store, out)
        return out, check_datasets(self.store, datasets, use=use, recipient=party, policy=self.policy, at=at)

    def _resolve_input(
        self, inp: RunInput, *, readable: bool = True, known: dict[int, DatasetInfo] | None = None
    ) -> tuple[str, int]:
        """(kind, id) of a run input; a dataset's row also lands in ``known`` (the gate reads it next)."""
        if inp.kind == "dataset":
            ds = self.store.get_dataset(DatasetRef.parse(inp.ref))
            if known is not None:
                known[ds.id] = ds
            return "dataset", (_readable(ds) if readable else ds).id
        kind = "model" if inp.kind == "model" else None
        return "artifact", self.store.resolve_artifact(inp.ref, kind=kind).id

    def register_artifact(
        self, path: Path, *, kind: str, name: str | None = None, run_id: int | None = None
    ) -> ArtifactInfo:
        self._may("run.write")
        p = Path(path)
        if not p.exists():
            raise InputError(f"{kind} {p} does not exist", hint="write the file first, then log it")
        from disgorge.hashing.digest import sha256_path

        digest, size = sha256_path(p)
        st = p.stat()
        return self.record_artifact(
            kind=kind,
            uri=as_uri(str(p)),
            sha256=digest,
            size=size,
            name=name,
            run_id=run_id,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
        )

    def resume_run(self, ref: str) -> RunContext:
        """A run opened elsewhere (by the server for a remote job), to add inputs and outputs to."""
        self._may("run.write")
        info = self.store.get_run(ref)
        if info.status != "running":
            raise UsageError(f"run {ref!r} is {info.status}: inputs and outputs go to a running run")
        return RunContext(self, info, [])

    def deploy(self, model: str, *, target: str, hook: str | None = None) -> int:
        self._may("model.deploy")
        if hook is not None:
            self._may("deployment.hook")
        return self.store.add_deployment(self.store.resolve_artifact(model, kind="model").id, target, hook)

    def export(
        self, dataset: str, *, to: str, dest: Path, at: datetime | None = None
    ) -> tuple[CheckReport, ExportResult]:
        """Share a dataset with a party: refused unless every member may be shared with it."""
        from disgorge.enforcement import export_members

        report, run, ds = self.begin_export(dataset, to=to, at=at)
        with run:
            result = export_members(self.store, self.store.members(ds.id), dest)
        return report, result

    def begin_export(
        self, dataset: str, *, to: str, at: datetime | None = None
    ) -> tuple[CheckReport, RunContext, DatasetInfo]:
        """The check of a share (recorded, and refused unless every member may go to ``to``) and the
        run that records it, open until the copying is done (a server's client copies)."""
        self._may("export")
        from disgorge.enforcement import check_datasets, denial

        ds = self.store.get_dataset(dataset)
        report = check_datasets(
            self.store, [ds], use="third_party_sharing", recipient=to, policy=self.policy, at=at
        )
        if not report.ok:
            self.store.record_decision(report.record("export"))
            raise denial(report, f"export of {ds.ref} to {to!r}")
        run = self.run(
            f"export {ds.ref} to {to}",
            use="third_party_sharing",
            party=to,
            inputs=[f"dataset:{ds.ref}"],
            at=at,
        )
        return report, run, ds


def _readable(ds: DatasetInfo) -> DatasetInfo:
    """A dataset version that held erased members is history: no new run may read it."""
    from disgorge.enforcement import readable

    return readable(ds)


def _read_notice(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"notice {path}: cannot read it ({exc.strerror})", hint="give the notice's text file"
        ) from exc


class RunContext:
    """A training run in progress; outputs logged here are linked to the run and to their parents."""

    def __init__(
        self,
        catalog: Catalog,
        info: RunInfo,
        inputs: list[tuple[str, int]],
        decision: CheckReport | None = None,
    ) -> None:
        self.catalog = catalog
        self.info = info
        self.inputs = inputs
        self.decision = decision

    def __enter__(self) -> RunContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.catalog.store.finish_run(self.info.id, "failed" if exc_type else "finished")

    def use_dataset(self, ref: str, *, at: datetime | None = None) -> DatasetInfo:
        """Add a dataset input to this open run, checked first for the run's use and party."""
        from disgorge.enforcement import check_datasets, denial

        ds = _readable(self.catalog.store.get_dataset(ref))
        report = check_datasets(
            self.catalog.store,
            [ds],
            use=self.info.use,
            recipient=self.info.party,
            policy=self.catalog.policy,
            at=at,
        )
        self.catalog.store.record_decision(report.record("run-input"), run_id=self.info.id)
        if not report.ok:
            raise denial(report, f"reading {ds.ref} in run {self.info.name!r}")
        self.catalog.store.add_run_input(self.info.id, "dataset", ds.id)
        self.inputs.append(("dataset", ds.id))
        return ds

    def use_datasets(
        self, datasets: Sequence[str | DatasetInfo], *, at: datetime | None = None
    ) -> list[DatasetInfo]:
        """:meth:`use_dataset` for several at once: one check of them together, one decision, one
        transaction for the decision and the inputs. Refused as a whole if any member may not be read."""
        from disgorge.catalog import DatasetInfo
        from disgorge.enforcement import check_datasets, denial

        store = self.catalog.store
        infos = [_readable(d if isinstance(d, DatasetInfo) else store.get_dataset(d)) for d in datasets]
        report = check_datasets(
            store, infos, use=self.info.use, recipient=self.info.party, policy=self.catalog.policy, at=at
        )
        if not report.ok:
            store.record_decision(report.record("run-input"), run_id=self.info.id)
            raise denial(report, f"reading {', '.join(d.ref for d in infos)} in run {self.info.name!r}")
        inputs = [("dataset", d.id) for d in infos]
        store.record_run_inputs(self.info.id, inputs, report.record("run-input"))
        self.inputs.extend(inputs)
        return infos

    def log_model(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        parents: Sequence[str] = (),
        relation: str = "fine_tuned_from",
    ) -> ArtifactInfo:
        """Register a model this run wrote; ``parents`` (names, paths or sha256) get a typed link."""
        check_relation(relation)
        art = self.catalog.register_artifact(Path(path), kind="model", name=name, run_id=self.info.id)
        for p in parents:
            parent = self.catalog.store.resolve_artifact(p, kind="model")
            self.catalog.store.link("artifact", parent.id, art.id, relation)
        return art

    def log_output(
        self,
        *,
        kind: str,
        uri: str,
        sha256: str,
        size: int,
        name: str | None = None,
        parents: Sequence[str] = (),
        relation: str = "fine_tuned_from",
        derived_from: Sequence[str] = (),
    ) -> ArtifactInfo:
        """:meth:`log_model` / :meth:`log_artifact` of bytes hashed elsewhere (a job reporting to the
        server): the same links, by the output's sha256 and size instead of a local path."""
        check_relation(relation)
        if parents and kind != "model":
            raise InputError("parents are models' parents: give derived_from for other artifacts")
        art = self.catalog.record_artifact(
            kind=kind, uri=uri, sha256=sha256, size=size, name=name, run_id=self.info.id
        )
        for p in parents:
            parent = self.catalog.store.resolve_artifact(p, kind="model")
            self.catalog.store.link("artifact", parent.id, art.id, relation)
        self._derive(art, derived_from)
        return art

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        name: str | None = None,
        derived_from: Sequence[str] = (),
    ) -> ArtifactInfo:
        """Register derived data (embeddings, thumbnails, feature tables) and what it came from.

        ``derived_from`` items are ``dataset:NAME[@V]``, ``asset:SHA256``, ``model:REF`` or ``artifact:REF``.
        """
        art = self.catalog.register_artifact(Path(path), kind=kind, name=name, run_id=self.info.id)
        self._derive(art, derived_from)
        return art

    def _derive(self, art: ArtifactInfo, derived_from: Sequence[str]) -> None:
        for ref in derived_from:
            kind_, _, value = ref.partition(":")
            if kind_ == "asset":
                self.catalog.store.link(
                    "asset", self.catalog.store.resolve_asset(value), art.id, "derived_from"
                )
            elif kind_ == "dataset":
                ds = self.catalog.store.get_dataset(value)
                self.catalog.store.link("dataset", ds.id, art.id, "derived_from")
            elif kind_ in ("model", "artifact"):
                parent = self.catalog.store.resolve_artifact(value)
                self.catalog.store.link("artifact", parent.id, art.id, "derived_from")
            else:
                raise InputError(
                    f"derived_from {ref!r} is not KIND:REF", hint="KIND is dataset, asset, model or artifact"
                )
