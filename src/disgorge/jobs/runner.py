"""Running one job exactly once: claim it in the catalog, hold a lease while it runs, stop between two
units when asked (cancel, shutdown) or when the lease is lost, and end it once.

The queue may deliver a job's id more than once (the sweep re-enqueues whatever the catalog says is
unfinished, and a worker killed mid-job never acknowledges anything); each delivery first claims the job
with a conditional UPDATE, so only one worker runs it at a time, and a finished job is never run again.
A job taken over after its worker died resumes from what the catalog already records: an erasure's
journal, an ingest's registered content; each unit is idempotent, none is carried out twice."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from disgorge.api import Catalog
from disgorge.catalog.store import ACTOR
from disgorge.errors import DisgorgeError, NotFoundError, PolicyDenied
from disgorge.model.roles import Principal

log = logging.getLogger("disgorge.jobs")

LEASE = float(os.environ.get("DISGORGE_JOB_LEASE_SECONDS", "30"))
"""How long a worker's claim lasts without a heartbeat; a job whose worker vanished (on another
machine) is taken over after this. On the worker's own machine a dead process is seen at once."""

FAULT_PAUSE = "DISGORGE_FAULT_JOB_UNIT_PAUSE"
"""Fault injection for tests: seconds to sleep after each unit, to kill a worker mid-job."""


class Stop(Exception):
    """Raised between two units to stop a job: ``why`` is cancelled, lost (the lease) or shutdown."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def worker_id() -> str:
    """This process on this machine, once: ``host:pid:nonce`` (the nonce tells a restarted process
    that reuses a pid, as in a container, from the one that held a lease)."""
    global _WORKER
    if _WORKER is None or _WORKER[1] != os.getpid():
        _WORKER = (f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}", os.getpid())
    return _WORKER[0]


_WORKER: tuple[str, int] | None = None


def is_dead(owner: str | None) -> bool:
    """Whether a lease holder is a process on this machine that no longer runs (never guesses about
    another machine: there the lease expires)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, _nonce = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner != worker_id()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Progress:
    """What a running job reports and is told: units done, and whether to stop before the next."""

    job_id: str
    attempt: int
    stopping: threading.Event
    phase: str | None = None
    done: int = 0
    total: int | None = None
    cancel: bool = False
    lost: bool = False
    pause: float = field(default_factory=lambda: float(os.environ.get(FAULT_PAUSE, "0") or 0))

    def unit(self, done: int, total: int | None, phase: str | None = None) -> None:
        """Record progress after a unit, then stop here if the job must stop."""
        self.done, self.total = done, total
        if phase is not None:
            self.phase = phase
        if self.pause:
            time.sleep(self.pause)
        self.check()

    def start(self, phase: str, total: int | None = None) -> None:
        self.phase, self.done, self.total = phase, 0, total
        self.check()

    def check(self) -> None:
        if self.lost:
            raise Stop("lost")
        if self.cancel:
            raise Stop("cancelled")
        if self.stopping.is_set():
            raise Stop("shutdown")

    def snapshot(self) -> tuple[str | None, int, int | None]:
        return self.phase, self.done, self.total


@dataclass(frozen=True)
class Kind:
    """A job kind: ``check`` validates a request as its owner makes it (and returns the body to
    store), ``run`` does the work in units, ``cancelled`` says what a cancellation left and how to go on."""

    action: str
    check: Callable[[Catalog, dict[str, Any]], dict[str, Any]]
    run: Callable[[Catalog, dict[str, Any], Progress], dict[str, Any]]
    cancelled: Callable[[Catalog, dict[str, Any], Progress], dict[str, Any]]


class Runner:
    """Runs jobs for one process: an in-process worker pool beside the server, or ``disgorge worker``."""

    def __init__(self, catalog: Catalog, kinds: dict[str, Kind], lease: float | None = None) -> None:
        self.catalog = catalog
        self.kinds = kinds
        self.lease = lease or LEASE
        self.stopping = threading.Event()

    def run(self, job_id: str) -> str:
        """Claim and run a job; returns how it ended here (``skipped`` if it was not ours to run)."""
        jobs = self.catalog.store.jobs
        try:
            current = jobs.get(job_id)
        except NotFoundError:  # an id from another catalog's queue, or garbage: nothing to run
            log.warning("job %s is not in this catalog; ignored", job_id[:40])
            return "skipped"
        owner = current.lease_owner
        dead = frozenset({owner}) if owner is not None and is_dead(owner) else frozenset()
        attempt = jobs.claim(job_id, worker_id(), self.lease, dead)
        if attempt is None:
            return "skipped"
        job = jobs.get(job_id)
        progress = Progress(job_id, attempt, self.stopping, cancel=job.cancel_requested is not None)
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(progress, beating), daemon=True)
        beat.start()
        token = ACTOR.set(job.owner)
        try:
            if attempt > 1:
                log.warning("job %s taken over (attempt %d): resuming", job_id, attempt)
            kind = self.kinds[job.kind]
            cat = self._as_owner(job.owner)
            from disgorge.access import require

            require(cat.principal, kind.action)
            progress.check()
            return self._end(progress, "done", result=kind.run(cat, job.body, progress))
        except Stop as s:
            if s.why == "cancelled":
                result = self.kinds[job.kind].cancelled(self.catalog, job.body, progress)
                return self._end(progress, "cancelled", result=result)
            if s.why == "shutdown":
                jobs.release(job_id, attempt)
                return "released"
            log.warning("job %s: lease lost to another worker; stopped without writing", job_id)
            return "lost"
        except DisgorgeError as e:
            return self._end(progress, "failed", error=e.to_json())
        except Exception as e:
            log.exception("job %s failed", job_id)
            error = {
                "error": "disgorge.error",
                "message": f"the job failed ({type(e).__name__}); the traceback is in the worker's log",
            }
            return self._end(progress, "failed", error=error)
        finally:
            ACTOR.reset(token)
            beating.set()
            beat.join(timeout=5)

    def _end(
        self,
        progress: Progress,
        status: str,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> str:
        jobs = self.catalog.store.jobs
        jobs.beat(progress.job_id, progress.attempt, self.lease, progress.snapshot())
        if not jobs.finish(progress.job_id, progress.attempt, status, result=result, error=error):
            log.warning("job %s: lease lost before it ended; another worker owns it", progress.job_id)
            return "lost"
        return status

    def _beat(self, progress: Progress, stop: threading.Event) -> None:
        every = min(1.0, self.lease / 3)
        jobs = self.catalog.store.jobs
        while not stop.wait(every):
            try:
                held, cancel = jobs.beat(progress.job_id, progress.attempt, self.lease, progress.snapshot())
            except DisgorgeError:
                log.warning("job %s: heartbeat failed (catalog unreachable); retrying", progress.job_id)
                continue
            progress.lost = progress.lost or not held
            progress.cancel = progress.cancel or cancel

    def _as_owner(self, owner: str) -> Catalog:
        """The catalog acting for the job's owner with their roles now (not when they asked)."""
        from disgorge.access import roster

        member = roster(self.catalog.store).active(owner)
        if member is None:
            raise PolicyDenied(f"{owner!r} is no longer an active member of the roster; the job did not run")
        return self.catalog.acting_as(Principal(member.name, frozenset(member.roles), member.key))
