"""What a team's processes record through the server: hashed records in bulk, runs continued by id,
outputs by their hashes, and the signed erasure statements their people make with their own keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from disgorge.errors import NotFoundError, UsageError
from disgorge.facade.erasing import ErasingMixin

if TYPE_CHECKING:
    from disgorge.catalog import ArtifactInfo, DatasetInfo, RunInfo, SourceInfo
    from disgorge.catalog.erasure import PlanInfo
    from disgorge.model import AssetRecord, IngestSummary
    from disgorge.trust import Signed

STATEMENT_KINDS = ("erasure.request", "erasure.approve", "erasure.resolve")
"""The erasure statements a client signs and the server records (execution belongs to the job runner)."""


class RecordsMixin(ErasingMixin):
    def source(self, name: str) -> SourceInfo:
        self._may("read")
        return self.store.get_source(name)

    def datasets(self) -> list[DatasetInfo]:
        self._may("read")
        return self.store.list_datasets()

    def dataset(self, ref: str) -> DatasetInfo:
        self._may("read")
        return self.store.get_dataset(ref)

    def register_records(
        self, source: str, records: Sequence[AssetRecord], *, allow_near_erased: bool = False
    ) -> IngestSummary:
        """Register records an ingest worker already hashed, as ``ingest`` registers its own: through
        the re-ingestion guard (erased content and its near copies refused), in one batch."""
        self._may("ingest")
        from disgorge.model import IngestProblem, IngestSummary
        from disgorge.scan.guard import Guard

        info = self.store.get_source(source)
        summary = IngestSummary(scanned=len(records))
        guard = Guard(self.store, self.indexes, allow_near=allow_near_erased)
        try:
            kept, refused, flags = guard.screen(list(records))
            summary.problems.extend(refused)
            summary.flags.extend(flags)
            res = self.store.register(kept, source_id=info.id, notice_id=info.notice_id)
            guard.commit_flags()
        finally:
            guard.close()
        summary.new_assets, summary.new_copies = res.new_assets, res.new_copies
        summary.unchanged = res.unchanged + res.moved_copies
        summary.subjects_added, summary.unknown_subject = res.subjects_added, res.new_unknown_subject
        summary.bytes_read = sum(r.size for r in kept)
        for n, _ in res.conflicts:
            r = kept[n]
            summary.problems.append(
                IngestProblem(
                    r.uri,
                    f"gives this content (sha256 {r.sha256[:12]}…) another subject than the one it has; "
                    "not registered (to correct the catalog: disgorge asset set-subject)",
                    "subject_conflict",
                )
            )
        return summary

    def record_artifact(
        self,
        *,
        kind: str,
        uri: str,
        sha256: str,
        size: int,
        name: str | None = None,
        run_id: int | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> ArtifactInfo:
        """Register bytes a run wrote, by their hash (the file may live on another machine)."""
        self._may("run.write")
        return self.store.register_artifact(
            kind=kind,
            uri=uri,
            sha256=sha256,
            size=size,
            name=name,
            run_id=run_id,
            mtime_ns=mtime_ns,
            inode=inode,
        )

    def run_info(self, ref: str) -> RunInfo:
        self._may("read")
        return self.store.get_run(ref)

    def finish_run(self, ref: str, status: str = "finished") -> None:
        self._may("run.write")
        if status not in ("finished", "failed"):
            raise UsageError(f"run status {status!r} is unknown", hint="finished or failed")
        run = self.store.get_run(ref)
        if run.status != "running":
            raise UsageError(f"run {ref!r} is already {run.status}")
        self.store.finish_run(run.id, status)

    def models(self) -> list[ArtifactInfo]:
        self._may("read")
        return self.store.list_artifacts(kind="model")

    def model(self, ref: str) -> ArtifactInfo:
        self._may("read")
        return self.store.resolve_artifact(ref, kind="model")

    def deployments(self, model: str) -> list[dict[str, Any]]:
        self._may("read")
        return self.store.deployments_of(self.store.resolve_artifact(model, kind="model").id)

    # the erasure workflow, statement by statement
    def plans(self) -> list[PlanInfo]:
        self._may("read")
        return self.store.list_plans()

    def draft_erasure(
        self,
        *,
        scope: tuple[str, str] | None,
        withdrawn: bool = False,
        reason: str,
        legal_basis: str,
        deadline: str | None = None,
        supplement: str | None = None,
        retrain: Sequence[str] = (),
    ) -> tuple[PlanInfo, bool]:
        """Freeze a plan without signing it: its requester signs :meth:`statement_template`'s
        ``erasure.request`` and sends it to :meth:`submit_statement`."""
        return self.erasures.service.plan(
            scope=scope,
            withdrawn=withdrawn,
            reason=reason,
            legal_basis=legal_basis,
            deadline=deadline,
            supplement=supplement,
            retrain=list(retrain),
        )

    def statement_template(
        self, plan_ref: str, kind: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """What a person signs for ``kind`` about a plan: the statement without principal, key, time
        and signature, which the signer adds (``disgorge.trust.sign``)."""
        self._may("read")
        if kind not in STATEMENT_KINDS:
            raise UsageError(f"statement kind {kind!r} is not signed here", hint=", ".join(STATEMENT_KINDS))
        from disgorge.access import roster

        service = self.erasures.service
        plan = self.store.get_plan(plan_ref)
        current = roster(self.store)
        extra = dict(body or {})
        if kind == "erasure.request":
            extra = service.request_body(plan.id)
        elif kind == "erasure.approve":
            extra = {}
        elif set(extra) != {"target", "reason"}:
            raise UsageError("a resolution's body is {target: SEQ, reason: TEXT}")
        return {
            "format": "disgorge-statement/1",
            "kind": kind,
            "catalog": current.catalog,
            "about": plan.id,
            "body": {**extra, "roster": current.digest()},
        }

    def submit_statement(self, plan_ref: str, kind: str, signed: Signed) -> dict[str, Any]:
        """Record a statement a person signed with their own key: refused unless it is signed by the
        principal this catalog acts as (a token acts only as its principal), then verified as a local
        command's would be."""
        self.own_statement(signed)
        if signed.kind != kind:
            raise UsageError(f"expected an {kind} statement, got {signed.kind}")
        service = self.erasures.service
        plan = self.store.get_plan(plan_ref)
        if kind == "erasure.request":
            service.submit_request(plan.id, signed)
        elif kind == "erasure.approve":
            service.approve(plan.id, signed)
        elif kind == "erasure.resolve":
            target = signed.body.get("target")
            if not isinstance(target, int):
                raise UsageError("a resolution names its target by number")
            return service.resolve(plan.id, target, signed)
        elif kind == "erasure.executed":
            service.record_executed(plan.id, signed)
        else:
            raise NotFoundError(f"statement kind {kind!r} is not recorded here")
        return service.show(plan.id)

    # the ledger
    def checkpoint(self, *, cosigner: Any = None) -> dict[str, Any]:
        self._may("ledger.checkpoint")
        return self.proofs.checkpoint(cosigner=cosigner)

    def latest_checkpoint(self) -> dict[str, Any]:
        self._may("read")
        size, root, note = self.proofs.latest_checkpoint()
        return {"size": size, "root": root, "checkpoint": note}

    def inclusion_proof(self, index: int) -> dict[str, Any]:
        self._may("read")
        if index < 0:
            raise UsageError(f"ledger entry {index} does not exist")
        return self.proofs.prove(index)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        self._may("read")
        return self.proofs.consistency(old_size, new_size)

    def ledger_page(self, start: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to ``limit`` stored entries (index, entry, leaf hash) from index ``start``, as they are
        stored, so that a client re-checks them itself (``ledger verify`` through a server)."""
        self._may("read")
        from itertools import islice

        return list(islice(self.store.ledger_entries(start, batch=limit), limit))

    def checkpoint_notes(self) -> list[tuple[int, str, str]]:
        """(size, root, note) of every stored checkpoint, oldest first."""
        self._may("read")
        return self.store.checkpoints()

    def ledger_keys(self) -> dict[str, Any]:
        """The log's origin and every key it signed checkpoints with (current first)."""
        self._may("read")
        ident = self.proofs.identity
        return {"origin": ident.origin, "keys": ident.trusted(), "current": ident.public_key()}

    def signing_key(self) -> str:
        """The verifier key the log signs checkpoints and certificates with now (public)."""
        return self.proofs.identity.public_key()
