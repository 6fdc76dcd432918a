"""Jobs: a small repository over ``jobs``, with the compare-and-set steps that keep a job from running
twice: a worker claims a job in one conditional UPDATE, and every later write (progress, heartbeat,
the end) names the claim's ``attempt``, so a worker whose lease was taken over writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, or_, select, update

from disgorge.catalog.schema import Job, utcnow
from disgorge.errors import NotFoundError

_JOBS = cast(Table, Job.__table__)


class _Store(Protocol):
    def session(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    kind: str
    owner: str
    body: dict[str, Any]
    status: str
    phase: str | None
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempt: int
    lease_owner: str | None
    lease_until: datetime | None
    cancel_requested: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """What a client sees: never the body's signed statement, only what was asked."""

        def at(d: datetime | None) -> str | None:
            return d.isoformat() if d is not None else None

        asked = {k: v for k, v in self.body.items() if k != "statement"}
        return {
            "id": self.id,
            "kind": self.kind,
            "owner": self.owner,
            "request": asked,
            "status": self.status,
            "progress": {"phase": self.phase, "done": self.done, "total": self.total},
            "cancel_requested": self.cancel_requested is not None,
            "attempts": self.attempt,
            "result": self.result,
            "error": self.error,
            "created_at": at(self.created_at),
            "started_at": at(self.started_at),
            "finished_at": at(self.finished_at),
        }


def _row(j: Any) -> JobRow:
    return JobRow(
        j.id,
        j.kind,
        j.owner,
        dict(j.body),
        j.status,
        j.phase,
        int(j.done),
        None if j.total is None else int(j.total),
        j.result,
        j.error,
        int(j.attempt),
        j.lease_owner,
        j.lease_until,
        j.cancel_requested,
        j.created_at,
        j.started_at,
        j.finished_at,
    )


class Jobs:
    def __init__(self, store: _Store) -> None:
        self._store = store

    def add(self, job_id: str, kind: str, owner: str, body: dict[str, Any]) -> JobRow:
        now = utcnow()
        with self._store.session() as s:
            row = Job(
                id=job_id,
                kind=kind,
                owner=owner,
                body=body,
                status="queued",
                done=0,
                attempt=0,
                created_at=now,
                enqueued_at=now,
            )
            s.add(row)
            s.flush()
            return _row(row)

    def get(self, job_id: str) -> JobRow:
        with self._store.session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise NotFoundError(f"no job {job_id!r}", hint="list jobs: GET /api/v1/jobs")
            return _row(row)

    def page(self, owner: str | None, offset: int, limit: int) -> list[JobRow]:
        """Jobs in the order they were created (so offsets stay put while jobs are added)."""
        q = select(Job).order_by(Job.created_at, Job.id).offset(offset).limit(limit)
        if owner is not None:
            q = q.where(Job.owner == owner)
        with self._store.session() as s:
            return [_row(j) for j in s.scalars(q)]

    def claim(self, job_id: str, worker: str, lease: float, dead: frozenset[str] = frozenset()) -> int | None:
        """Take a job to run: queued, or running under a lease that expired or whose holder is known to
        be dead. One conditional UPDATE, so of any number of workers racing, one wins; the attempt it
        returns fences every later write. None: the job is someone else's, finished or cancelled."""
        now = utcnow()
        takeable = or_(
            _JOBS.c.status == "queued",
            and_(
                _JOBS.c.status == "running",
                or_(_JOBS.c.lease_until < now, _JOBS.c.lease_owner.in_(sorted(dead))),
            ),
        )
        with self._store.session() as s:
            attempt = s.scalar(select(Job.attempt).where(Job.id == job_id))
            if attempt is None:
                return None
            res = s.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.attempt == attempt, takeable)
                .values(
                    status="running",
                    attempt=attempt + 1,
                    lease_owner=worker,
                    lease_until=now + timedelta(seconds=lease),
                    started_at=now,
                )
            )
            return int(attempt) + 1 if res.rowcount == 1 else None

    def beat(
        self,
        job_id: str,
        attempt: int,
        lease: float,
        progress: tuple[str | None, int, int | None] | None = None,
    ) -> tuple[bool, bool]:
        """Extend the lease (and record progress: phase, done, total). Returns (still held, cancel
        asked): a worker that no longer holds its job stops at once and writes nothing more."""
        values: dict[str, Any] = {"lease_until": utcnow() + timedelta(seconds=lease)}
        if progress is not None:
            values.update(phase=progress[0], done=progress[1], total=progress[2])
        with self._store.session() as s:
            res = s.execute(update(_JOBS).where(*self._held(job_id, attempt)).values(**values))
            if res.rowcount != 1:
                return False, False
            asked = s.scalar(select(Job.cancel_requested).where(Job.id == job_id))
            return True, asked is not None

    def finish(
        self,
        job_id: str,
        attempt: int,
        status: str,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """End a job once: only the holder of the current attempt can, and only while it runs."""
        with self._store.session() as s:
            res = s.execute(
                update(_JOBS)
                .where(*self._held(job_id, attempt))
                .values(
                    status=status,
                    result=result,
                    error=error,
                    finished_at=utcnow(),
                    lease_owner=None,
                    lease_until=None,
                )
            )
            return bool(res.rowcount == 1)

    def release(self, job_id: str, attempt: int) -> bool:
        """Hand a running job back to the queue (a worker shutting down between two units)."""
        with self._store.session() as s:
            res = s.execute(
                update(_JOBS)
                .where(*self._held(job_id, attempt))
                .values(status="queued", lease_owner=None, lease_until=None, enqueued_at=utcnow())
            )
            return bool(res.rowcount == 1)

    def cancel(self, job_id: str) -> JobRow:
        """Ask a job to stop: a queued job is cancelled at once, a running one at its next unit."""
        now = utcnow()
        with self._store.session() as s:
            s.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.status == "queued")
                .values(status="cancelled", cancel_requested=now, finished_at=now)
            )
            s.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.status == "running", _JOBS.c.cancel_requested.is_(None))
                .values(cancel_requested=now)
            )
        return self.get(job_id)

    def unfinished(self) -> list[tuple[str, str, str | None, datetime | None, datetime]]:
        """(id, status, lease owner, lease end, last enqueued) of every job not yet finished."""
        q = select(Job.id, Job.status, Job.lease_owner, Job.lease_until, Job.enqueued_at).where(
            Job.status.in_(("queued", "running"))
        )
        with self._store.session() as s:
            return [(str(a), str(b), c, d, e) for a, b, c, d, e in s.execute(q)]

    def enqueued(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self._store.session() as s:
            s.execute(update(_JOBS).where(_JOBS.c.id.in_(job_ids)).values(enqueued_at=utcnow()))

    @staticmethod
    def _held(job_id: str, attempt: int) -> tuple[Any, ...]:
        return (_JOBS.c.id == job_id, _JOBS.c.attempt == attempt, _JOBS.c.status == "running")
