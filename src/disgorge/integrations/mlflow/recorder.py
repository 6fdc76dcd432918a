"""What the ``disgorge+`` store records, written off MLflow's call path by one background thread.

A refusal is decided (and recorded) before the wrapped store is touched, in the caller's thread; what
an allowed call adds to the catalog (the run, its inputs and models, the decision that allowed them) is
queued here, coalesced per run, and applied in one catalog transaction per drain, in call order. The end
of a run (a terminal ``update_run_info``) and the process's exit wait for everything queued before them,
and a failure to record is raised there, so nothing is lost silently.

The writer lingers: it drains once no record has come for :data:`LINGER` seconds (or :data:`MOST` after
the first waiting one), unless a flush is waiting. A run's ``create_run`` and ``log_inputs`` then become
one record and back-to-back runs one transaction, where a drain per call cost about a third of MLflow's
own CPU per run, taken from the caller's thread by the interpreter lock while the writer ran.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from disgorge.model.capture import CapturedDataset, CapturedRun

LINGER = 0.05
"""Seconds without a new record after which the writer drains what is queued."""
MOST = 0.5
"""Seconds a record waits at most while records keep coming."""

if TYPE_CHECKING:
    from disgorge.catalog import CatalogStore
    from disgorge.catalog.consent import DecisionRecord


def merge(old: CapturedRun, new: CapturedRun) -> CapturedRun:
    """Two records of one run as one: inputs and outputs united by URI (the later wins), the rest from
    the later record, a start or an end time never erased."""

    def union(a: tuple[CapturedDataset, ...], b: tuple[CapturedDataset, ...]) -> tuple[CapturedDataset, ...]:
        by_uri = {d.uri: d for d in a}
        by_uri.update((d.uri, d) for d in b)
        return tuple(by_uri.values())

    return replace(
        new,
        started_at=new.started_at or old.started_at,
        ended_at=new.ended_at or old.ended_at,
        inputs=union(old.inputs, new.inputs),
        outputs=union(old.outputs, new.outputs),
    )


class Recorder:
    """One writer thread per store; :meth:`flush` waits for it and re-raises what it could not record."""

    def __init__(self, store: Callable[[], CatalogStore]) -> None:
        self._store = store
        self._cond = threading.Condition()
        self._runs: dict[str, CapturedRun] = {}
        self._decisions: list[DecisionRecord] = []
        self._busy = False
        self._added = 0
        self._flushing = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        atexit.register(self.flush)

    def run(self, run: CapturedRun) -> None:
        with self._cond:
            old = self._runs.get(run.uid)
            self._runs[run.uid] = merge(old, run) if old is not None else run
            self._added += 1
            self._wake()

    def decision(self, rec: DecisionRecord) -> None:
        with self._cond:
            self._decisions.append(rec)
            self._added += 1
            self._wake()

    def flush(self) -> None:
        """Wait until everything queued so far is in the catalog; raise the first failure, once."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()  # the writer stops lingering
            try:
                while self._runs or self._decisions or self._busy:
                    self._cond.wait()
            finally:
                self._flushing -= 1
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _wake(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="disgorge-mlflow-recorder", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._runs or self._decisions):
                    if not self._cond.wait(timeout=5):
                        self._thread = None  # idle: the next record starts another
                        return
                self._linger()
                runs, decisions = list(self._runs.values()), self._decisions
                self._runs, self._decisions, self._busy = {}, [], True
            try:
                store = self._store()
                with store.reading():  # one transaction for the drain
                    store.record_decisions(decisions)
                    if runs:
                        store.apply_captured_runs(runs)
            except BaseException as exc:  # kept for flush() to raise in the caller's thread
                with self._cond:
                    self._error = self._error or exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _linger(self) -> None:
        """Wait while records keep coming (called holding the condition), unless a flush is waiting."""
        deadline = time.monotonic() + MOST
        while not self._flushing:
            seen, left = self._added, deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(timeout=min(LINGER, left))
            if self._added == seen and not self._flushing:
                return
