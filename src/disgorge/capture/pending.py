"""Acknowledge now, fold soon: OpenLineage events one per request, as producers send them.

A producer posting each event on its own (openlineage-python's ``HttpTransport``) waits for every answer;
folding the event's run into the catalog while it waits costs a dozen statements per event. So
``POST /api/v1/lineage`` only validates the event and stores it, marked pending, in one commit, and a
:class:`Folder` folds the pending events of many requests together up to half a second later, the way a
batch is folded. Nothing acknowledged can be missed by a reader: the server settles its folder before
any other request reads the catalog, a local command folds what any process left pending when it opens
the catalog (``cli/app.py``), and the erasure planner refuses to plan while events are pending.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from disgorge.capture.service import EventResult, _fold_all, _may, _prepare, raw_event, refold
from disgorge.catalog import CatalogStore
from disgorge.catalog.store import ACTOR
from disgorge.errors import DisgorgeError, InputError, StoreError
from disgorge.model.roles import Principal

log = logging.getLogger("disgorge.capture")
ROUND = 2000
"""Pending events folded per transaction."""


def accept_event(
    store: CatalogStore, principal: Principal, raw: bytes | str | dict[str, Any], *, nowait: bool = False
) -> EventResult | None:
    """Validate one event and store it for a later fold; an InputError (HTTP 400) if it is refused.
    ``pending`` in the result: the catalog will show it once folded (a reader settles that first).
    ``nowait``: None if the catalog is busy with another writer (see ``accept_lineage_events``)."""
    _may(principal)
    prepared = _prepare(raw)
    if isinstance(prepared, EventResult):
        if prepared.status == "refused":
            raise InputError(
                prepared.reason or "event refused", hint="see the OpenLineage 2-0-2 RunEvent schema"
            )
        return prepared
    statuses = store.accept_lineage_events([raw_event(*prepared)], nowait=nowait)
    if statuses is None:
        return None
    return EventResult(statuses[0], run=prepared[0].run_uid, pending=statuses[0] != "duplicate")


def fold_pending(store: CatalogStore, limit: int = ROUND) -> int:
    """Fold what is pending now, oldest first, in rounds of up to ``limit`` events (events that arrive
    meanwhile wait for the next call, so a steady stream cannot keep a reader here); returns the events
    folded. A run whose fold cannot be applied is marked failed (``disgorge coverage`` lists it) and
    does not hold up the others."""
    top = store.pending_lineage_top()
    done = 0
    while top is not None:
        try:
            ids, _ = store.fold_pending_lineage(lambda bodies: _fold_all(bodies, {}), limit, upto=top)
        except DisgorgeError:
            ids = _one_by_one(store, limit)
        if not ids:
            break
        done += len(ids)
    return done


def _one_by_one(store: CatalogStore, limit: int) -> list[int]:
    """The fallback when a round fails: each run applied on its own, its events cleared, or marked
    failed with the reason if the run itself cannot be applied (a database failure propagates and
    leaves them pending)."""
    per_run: dict[str, list[int]] = {}
    poster: dict[str, str | None] = {}
    for event_id, uid, by in store.pending_lineage_events(limit):
        per_run.setdefault(uid, []).append(event_id)
        poster[uid] = by
    for uid, ids in per_run.items():
        failed: str | None = None
        token = ACTOR.set(poster[uid])
        try:
            refold(store, [uid])
        except StoreError as exc:
            store.ping()  # the database itself failing propagates; the events stay pending
            failed = exc.message
        except DisgorgeError as exc:
            failed = exc.message
        finally:
            ACTOR.reset(token)
        store.settle_pending_lineage(ids, failed)
    return [i for ids in per_run.values() for i in ids]


class Folder:
    """Folds acknowledged events in the background, ``linger`` seconds after the first of a burst, so
    that the events of many requests are folded together. :meth:`settle` returns once every event
    acknowledged before the call is in the catalog.

    ``acks``: a file shared by the processes of one server, where each acknowledgment appends a byte
    (an ``O_APPEND`` write is atomic), so its size counts what every worker acknowledged and a reader on
    any of them knows to fold first (a fold takes what every process left pending)."""

    def __init__(self, store: CatalogStore, *, linger: float = 0.5, acks: str | None = None) -> None:
        self._store = store
        self._linger = linger
        self._wake = threading.Event()
        self._folding = threading.Lock()
        self._count = threading.Lock()
        self._fd = os.open(acks, os.O_WRONLY | os.O_APPEND) if acks else None
        self._accepted = 0
        self._settled = -1  # what an earlier process left pending: readers wait for the first fold
        self._stopping = False
        self._thread: threading.Thread | None = None

    def accepted(self) -> None:
        """An event was stored pending (call after its commit, before the answer)."""
        if self._fd is not None:
            os.write(self._fd, b".")
        else:
            with self._count:
                self._accepted += 1
        self._wake.set()

    def _acknowledged(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else self._accepted

    @property
    def folding(self) -> bool:
        return self._folding.locked()

    def behind(self) -> bool:
        return self._settled < self._acknowledged()

    def settle(self) -> None:
        """Fold now whatever is pending, unless the background fold already covered it."""
        target = self._acknowledged()
        with self._folding:
            if self._settled >= target:
                return
            fold_pending(self._store)
            self._settled = max(self._settled, target)

    def start(self) -> None:
        """Fold what an earlier process left pending, then wait for events."""
        self._thread = threading.Thread(target=self._run, name="disgorge-lineage-folder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.settle()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        first = True
        while not self._stopping:
            if not first:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                time.sleep(self._linger)
            first = False
            try:
                self.settle()
            except Exception:  # the events stay pending; a reader's settle or the next burst retries
                log.exception("folding pending OpenLineage events failed")
                time.sleep(1.0)
