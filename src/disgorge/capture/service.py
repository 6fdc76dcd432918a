"""Ingesting OpenLineage events: what ``POST /api/v1/lineage`` and ``/lineage/batch`` call.

Each event is validated, stored as received (idempotently, by run id, event type and event time), and
its run re-folded from every event stored for it, so the catalog after any set of events is the same
whatever order they came in. A refused event is reported with its reason and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from disgorge.capture.fold import fold
from disgorge.capture.openlineage import MAX_EVENT_BYTES, NotARunEvent, RunEvent, load, parse
from disgorge.catalog import CatalogStore
from disgorge.catalog.capture import RawEvent
from disgorge.errors import DisgorgeError, InputError
from disgorge.model.capture import CapturedRun, CaptureOutcome
from disgorge.model.roles import Principal

MAX_BATCH = 10_000


@dataclass(slots=True)
class EventResult:
    """The outcome of one event: ``stored``, ``duplicate`` (already held), ``conflict`` (stored beside a
    different event with the same run id, type and time), ``ignored`` (not a run event) or ``refused``."""

    status: str
    run: str | None = None
    reason: str | None = None
    resolved: int = 0
    unknown: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    pending: bool = False
    """Stored to be folded later (``POST /api/v1/lineage``): no resolution to report yet."""

    @property
    def ok(self) -> bool:
        return self.status != "refused"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.run is not None:
            out["run"] = self.run
        if self.reason is not None:
            out["reason"] = self.reason
        if self.pending:
            out["pending"] = True
        elif self.ok and self.run is not None:
            out.update(resolved=self.resolved, unknown=self.unknown, models=self.models)
        return out


def _canonical(doc: dict[str, Any]) -> tuple[str, str]:
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return body, hashlib.sha256(body.encode()).hexdigest()


def _prepare(raw: bytes | str | dict[str, Any]) -> tuple[RunEvent, str, str] | EventResult:
    try:
        doc = load(raw)
        event = parse(doc)
    except NotARunEvent as exc:
        return EventResult("ignored", reason=str(exc))
    except InputError as exc:
        return EventResult("refused", reason=exc.message)
    body, digest = _canonical(doc)
    if len(body.encode()) > MAX_EVENT_BYTES:
        return EventResult("refused", run=event.run_uid, reason=f"event is over {MAX_EVENT_BYTES} bytes")
    return event, body, digest


def raw_event(event: RunEvent, body: str, digest: str) -> RawEvent:
    """What the catalog stores of a prepared event."""
    return (event.run_uid, event.type, event.time_key, event.producer, digest, body)


def _may(principal: Principal) -> None:
    from disgorge.access import require

    require(principal, "lineage.write")


def ingest_event(store: CatalogStore, principal: Principal, raw: bytes | str | dict[str, Any]) -> EventResult:
    """Ingest one event; an InputError (HTTP 400) if it is refused, with the reason."""
    result = ingest_batch(store, principal, [raw])[0]
    if result.status == "refused":
        raise InputError(result.reason or "event refused", hint="see the OpenLineage 2-0-2 RunEvent schema")
    return result


def ingest_batch(
    store: CatalogStore, principal: Principal, raws: Sequence[bytes | str | dict[str, Any]]
) -> list[EventResult]:
    """Ingest events; one result per event, in order. Refused events change nothing; the others are
    stored together, then each run they touch is re-folded once."""
    _may(principal)
    if len(raws) > MAX_BATCH:
        raise InputError(f"batch has {len(raws)} events, over {MAX_BATCH}", hint="send smaller batches")
    results: list[EventResult | None] = [None] * len(raws)
    keep: list[tuple[int, RunEvent, str, str]] = []
    for i, raw in enumerate(raws):
        prepared = _prepare(raw)
        if isinstance(prepared, EventResult):
            results[i] = prepared
        else:
            keep.append((i, *prepared))
    raw_events = [raw_event(e, body, digest) for _, e, body, digest in keep]
    parsed = {digest: e for _, e, _, digest in keep}
    outcomes: dict[str, CaptureOutcome | EventResult]
    try:  # the common case: one transaction for the events and every run they change
        statuses, done = store.ingest_lineage(raw_events, lambda bodies: _fold_all(bodies, parsed))
        changed = [e[0] for e, st in zip(raw_events, statuses, strict=True) if st != "duplicate"]
        outcomes = dict(zip(dict.fromkeys(changed), done, strict=True))
    except DisgorgeError:  # some run cannot be applied: store the events, then apply run by run
        statuses = store.store_lineage_events(raw_events)
        changed = [e[0] for e, st in zip(raw_events, statuses, strict=True) if st != "duplicate"]
        outcomes = refold(store, list(dict.fromkeys(changed)))
    for (i, event, _, _), status in zip(keep, statuses, strict=True):
        out = outcomes.get(event.run_uid)
        if out is None:  # only duplicates of this run: nothing to fold again
            results[i] = EventResult(status, run=event.run_uid)
            continue
        if isinstance(out, EventResult):
            results[i] = out
            continue
        results[i] = EventResult(
            status,
            run=event.run_uid,
            resolved=len(out.resolved),
            unknown=[u for u, _ in out.unknown],
            models=out.models,
        )
    return [r for r in results if r is not None]


def refold(store: CatalogStore, uids: list[str]) -> dict[str, CaptureOutcome | EventResult]:
    """Re-fold runs from every event stored for them and apply them to the catalog together; if that
    fails, run by run, so one bad run does not refuse the others."""
    if not uids:
        return {}
    bodies = store.lineage_event_bodies(uids)
    runs = _fold_all(bodies, {})
    try:
        return dict(zip(uids, store.apply_captured_runs(runs), strict=True))
    except DisgorgeError:
        if len(runs) == 1:
            raise
    out: dict[str, CaptureOutcome | EventResult] = {}
    for uid, run in zip(uids, runs, strict=True):
        try:
            out[uid] = store.apply_captured_run(run)
        except DisgorgeError as exc:
            out[uid] = EventResult("refused", run=uid, reason=exc.message)
    return out


def _fold_all(bodies: dict[str, list[str]], parsed: dict[str, RunEvent]) -> list[CapturedRun]:
    """Each run's fold from its stored bodies; events parsed already (this request's) are not parsed
    again."""
    out = []
    for events in bodies.values():
        pairs = []
        for body in events:
            digest = _digest(body)
            event = parsed.get(digest)
            pairs.append((event if event is not None else RunEvent.model_validate_json(body), digest))
        out.append(fold(pairs))
    return out


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()
