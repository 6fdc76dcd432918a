"""Asking for jobs, following them and cancelling them, as a person with roles (routes and CLI call
this): each kind needs its roster action, everyone sees their own jobs, admins see everyone's."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from disgorge.access import require
from disgorge.api import Catalog
from disgorge.catalog.jobs import JobRow
from disgorge.errors import NotFoundError, UsageError
from disgorge.jobs.kinds import JOB_KINDS
from disgorge.jobs.queue import Queue

log = logging.getLogger("disgorge.jobs")


class JobService:
    def __init__(self, queue: Queue | None) -> None:
        self.queue = queue

    def submit(self, cat: Catalog, kind: str, body: dict[str, Any]) -> JobRow:
        """Check a request as its owner makes it, record the job, then ring the queue."""
        if kind not in JOB_KINDS:
            raise UsageError(f"job kind {kind!r} is unknown", hint=f"kinds: {', '.join(JOB_KINDS)}")
        spec = JOB_KINDS[kind]
        require(cat.principal, spec.action)
        stored = spec.check(cat, body)
        row = cat.store.jobs.add(secrets.token_hex(8), kind, cat.principal.name, stored)
        if self.queue is not None:
            try:
                self.queue.enqueue(row.id)
            except Exception:  # the job is recorded: the sweep enqueues it once the queue is back
                log.warning("job %s recorded but not enqueued (queue unreachable)", row.id, exc_info=True)
        return row

    @staticmethod
    def get(cat: Catalog, job_id: str) -> JobRow:
        """A job its owner (or an admin) may see; anyone else is told it does not exist."""
        require(cat.principal, "read")
        try:
            row = cat.store.jobs.get(job_id)
        except NotFoundError:
            row = None
        if row is None or (row.owner != cat.principal.name and "admin" not in cat.principal.roles):
            raise NotFoundError(f"no job {job_id!r} of yours", hint="list your jobs: GET /api/v1/jobs")
        return row

    @staticmethod
    def page(cat: Catalog, offset: int, limit: int) -> list[JobRow]:
        require(cat.principal, "read")
        owner = None if "admin" in cat.principal.roles else cat.principal.name
        return cat.store.jobs.page(owner, offset, limit)

    def cancel(self, cat: Catalog, job_id: str) -> JobRow:
        self.get(cat, job_id)
        return cat.store.jobs.cancel(job_id)
