"""The job queue, on huey: SQLite in the home for the embedded default, the catalog's own PostgreSQL
for a team (no other service to run), or Redis where a team has one.

The queue only carries job ids, a doorbell; the catalog's ``jobs`` table is the record. huey takes a
message off its queue before running it, and Redis here keeps nothing on disk, so a worker killed
mid-job, or a restarted Redis, would lose a queued id: a sweep (at every worker start, then every
15 seconds) re-enqueues what the catalog says is unfinished and unheld, and the claim in
:mod:`disgorge.jobs.runner` makes every duplicate delivery a no-op."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from disgorge.api import Catalog
from disgorge.catalog.schema import utcnow
from disgorge.errors import UsageError
from disgorge.jobs.runner import Runner, is_dead

log = logging.getLogger("disgorge.jobs")

REQUEUE_AFTER = timedelta(seconds=60)
"""A queued job not started this long after it was (re-)enqueued is enqueued again."""

SWEEP_SECONDS = float(os.environ.get("DISGORGE_JOB_SWEEP_SECONDS", "15"))
"""How often a running worker pool looks for jobs whose worker is gone."""


def describe(url: str | None, catalog: Catalog) -> str:
    """Where the queue lives, for messages (never with a password)."""
    if url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"
    return "the catalog's PostgreSQL" if catalog.store.dialect == "postgresql" else "SQLite in the home"


def make_huey(catalog: Catalog, url: str | None = None) -> Huey:
    """The huey instance for this catalog: one queue per catalog (named by its id), wherever it lives."""
    name = f"disgorge-{catalog.store.statements.catalog_id()[:16]}"
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise UsageError(
                f"job queue {url!r} is not a Redis URL",
                hint="use redis://HOST:6379/0, or leave --jobs out to queue in the catalog's database",
            )
        try:
            import redis  # noqa: F401
        except ImportError as exc:
            raise UsageError(
                "a Redis job queue needs the redis client", hint="pip install 'disgorge[redis]'"
            ) from exc
        return RedisHuey(name=name, url=url, results=False, utc=True)
    if catalog.store.dialect == "postgresql":
        from sqlalchemy.engine import make_url

        dsn = make_url(catalog.store.url).set(drivername="postgresql").render_as_string(hide_password=False)
        return _postgres_huey(catalog, name, dsn)
    path = catalog.home.path / "jobs-queue.db"
    return SqliteHuey(name=name, filename=str(path), results=False, utc=True)


_DDL_LOCK = 7243159
"""PostgreSQL advisory lock around creating the queue's tables (the fold lock is 7243158)."""


def _postgres_huey(catalog: Catalog, name: str, dsn: str) -> Huey:
    """Huey creates its tables (``CREATE TABLE IF NOT EXISTS``) when it starts. Two server workers
    starting at once on a new catalog race on PostgreSQL's own catalog (a unique violation on
    ``pg_type``: one of them fails to start), so the tables are created one process at a time."""
    from sqlalchemy import text

    with catalog.store.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _DDL_LOCK})
        try:
            return PostgresHuey(name=name, dsn=dsn, results=False, utc=True, table_prefix="disgorge_queue")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _DDL_LOCK})
            conn.commit()


class _Consumer(Consumer):  # type: ignore[misc]
    def _set_signal_handlers(self) -> None:
        """The server (or ``disgorge worker``) owns the process's signals, not huey."""


class Queue:
    """Enqueue jobs; with ``start``, also run them on worker threads in this process."""

    def __init__(self, catalog: Catalog, url: str | None = None, runner: Runner | None = None) -> None:
        self.catalog = catalog
        self.where = describe(url, catalog)
        self.huey = make_huey(catalog, url)
        self.runner = runner
        self._consumer: Any = None

        def run_job(job_id: str) -> None:
            if self.runner is None:
                raise RuntimeError("this process only enqueues jobs")
            ended = self.runner.run(job_id)
            log.info("job %s: %s", job_id, ended)

        self._task = self.huey.task(name="disgorge.job")(run_job)
        self._sweeping = threading.Event()

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def close(self) -> None:
        """Close this process's connection to the queue (a queue that only enqueued)."""
        self.huey.storage.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sweep(self, everything: bool = False) -> list[str]:
        """Enqueue again every unfinished job nobody holds: queued ones not started for a while (all of
        them with ``everything``, at a worker's start), running ones whose worker is gone."""
        now = utcnow()
        jobs = self.catalog.store.jobs
        again = []
        for job_id, status, owner, until, enqueued in jobs.unfinished():
            waiting = status == "queued" and (everything or _aware(enqueued) < now - REQUEUE_AFTER)
            orphaned = status == "running" and (until is None or _aware(until) < now or is_dead(owner))
            if waiting or orphaned:
                again.append(job_id)
        for job_id in again:
            self.enqueue(job_id)
        jobs.enqueued(again)
        if again:
            log.warning("job sweep: enqueued %d unfinished job(s) again: %s", len(again), ", ".join(again))
        return again

    def start(self, workers: int) -> None:
        """Run jobs on ``workers`` threads here; first re-enqueue what a previous run left."""
        if self.runner is None or workers < 1:
            return
        self._consumer = _Consumer(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            check_worker_health=False,
            shutdown_timeout=8,
        )
        try:
            self.sweep(everything=True)
        except Exception:  # a queue down at start must not stop the server; the sweep loop retries
            log.exception(
                "job sweep at start failed (is the queue reachable?); retrying every %s s", SWEEP_SECONDS
            )
        self._consumer.start()
        threading.Thread(target=self._sweep_loop, name="disgorge-job-sweep", daemon=True).start()

    def _sweep_loop(self) -> None:
        while not self._sweeping.wait(SWEEP_SECONDS):
            try:
                self.sweep()
            except Exception:
                log.exception("job sweep failed; trying again in %s s", SWEEP_SECONDS)

    def stop(self) -> None:
        """Stop between two units: running jobs go back to the queue, to resume at the next start."""
        self._sweeping.set()
        if self.runner is not None:
            self.runner.stopping.set()
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None
        self.close()


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)
