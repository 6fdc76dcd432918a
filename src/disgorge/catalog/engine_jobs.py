"""The journal of engine jobs: which batches of an object store prefix a job finished, and their results.

A batch is journaled only after its results are in the catalog (ingest: registered; scan: matched), so
a worker or driver that dies costs at most the batches in flight. A run of the same job (same kind,
root and options) resumes the unfinished one; a finished job is never resumed, so running a command
again after it succeeded does the work again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from disgorge.catalog.schema import EngineBatch, EngineJob, utcnow
from disgorge.catalog.store import StoreBase


@dataclass(frozen=True, slots=True)
class DoneBatch:
    id: int
    first_key: str
    last_key: str
    objects: int
    digest: str


@dataclass(frozen=True, slots=True)
class EngineRun:
    id: str
    resumed: bool
    done: tuple[DoneBatch, ...]
    """The batches an earlier run finished, in key order (their ranges never overlap)."""


def params_digest(kind: str, root: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "root": root, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class EngineJobs:
    def __init__(self, store: StoreBase) -> None:
        self.store = store

    def open(self, kind: str, root: str, params: dict[str, Any]) -> EngineRun:
        """The unfinished job with these parameters (resumed), or a new one."""
        digest = params_digest(kind, root, params)
        with self.store.session() as s:
            found = s.scalar(
                select(EngineJob.id)
                .where(EngineJob.digest == digest, EngineJob.state == "running")
                .order_by(EngineJob.created_at.desc())
                .limit(1)
            )
            if found is None:
                job_id = uuid.uuid4().hex
                s.add(EngineJob(id=job_id, kind=kind, root=root, digest=digest, params=params))
                return EngineRun(job_id, False, ())
            rows = s.execute(
                select(
                    EngineBatch.id,
                    EngineBatch.first_key,
                    EngineBatch.last_key,
                    EngineBatch.objects,
                    EngineBatch.digest,
                ).where(EngineBatch.job_id == found)
            ).all()
        done = sorted((DoneBatch(*r) for r in rows), key=lambda b: b.first_key)
        return EngineRun(found, True, tuple(done))

    def record(
        self, job_id: str, first_key: str, last_key: str, objects: int, digest: str, result: dict[str, Any]
    ) -> None:
        with self.store.session() as s:
            s.add(
                EngineBatch(
                    job_id=job_id,
                    first_key=first_key,
                    last_key=last_key,
                    objects=objects,
                    digest=digest,
                    result=result,
                )
            )

    def forget(self, batch_ids: list[int]) -> None:
        """Drop batches whose objects changed since they were hashed: they are done again."""
        if batch_ids:
            with self.store.session() as s:
                s.execute(delete(EngineBatch).where(EngineBatch.id.in_(batch_ids)))

    def results(self, job_id: str) -> list[dict[str, Any]]:
        """Every finished batch's result, in key order."""
        with self.store.session() as s:
            return list(
                s.scalars(
                    select(EngineBatch.result)
                    .where(EngineBatch.job_id == job_id)
                    .order_by(EngineBatch.first_key)
                )
            )

    def finish(self, job_id: str) -> None:
        with self.store.session() as s:
            s.execute(
                update(EngineJob).where(EngineJob.id == job_id).values(state="done", finished_at=utcnow())
            )
