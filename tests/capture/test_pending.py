"""Events acknowledged now and folded soon: nothing acknowledged is ever missing from an answer.

``accept_event`` stores an event pending (what ``POST /api/v1/lineage`` does); ``fold_pending`` folds
what is pending. A reader that settles first (the CLI, the server's requests, the erasure planner) sees
every acknowledged event; a run whose fold cannot be applied is reported, and does not hold up others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import disgorge
from disgorge.access import resolve
from disgorge.capture import accept_event, fold_pending, ingest_batch
from disgorge.capture.pending import Folder
from disgorge.capture.service import _fold_all
from disgorge.catalog import capture_apply
from disgorge.catalog.schema import LedgerEntry, Run
from disgorge.catalog.store import ACTOR
from disgorge.erasure.service import _lineage_settled
from disgorge.errors import ConflictError, InputError, StoreError
from disgorge.ingest import IngestOptions
from disgorge.trust import Identity
from tests.as_a_person import dg, dg_json, new_home
from tests.capture.events import airflow_task, ds, new_id


def _trained(photos: Path, rid: str, model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    inp = [ds("file", str(photos.resolve() / "bob"))]
    start = airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=inp, outputs=[])
    done = airflow_task(rid, "COMPLETE", time="2026-12-01T10:30:00Z", inputs=[], outputs=[ds("file", model)])
    return start, done


def _poison(monkeypatch: pytest.MonkeyPatch, uid: str, message: str) -> None:
    """Fault injection at the catalog boundary: applying a round that holds run ``uid`` fails."""
    real = capture_apply.Batch.apply

    def poisoned(self: capture_apply.Batch) -> Any:
        if any(r.uid == uid for r in self.runs):
            raise StoreError(message)
        return real(self)

    monkeypatch.setattr(capture_apply.Batch, "apply", poisoned)


def _run(cat: disgorge.Catalog, rid: str) -> Run | None:
    with cat.store.session() as s:
        return s.scalar(select(Run).where(Run.uid == rid))


def test_an_acknowledged_event_is_folded_later_and_counted_until_then(
    lcat: disgorge.Catalog, photos: Path
) -> None:
    rid = new_id()
    start, done = _trained(photos, rid, "/models/bob.pt")
    first = accept_event(lcat.store, lcat.principal, start)
    assert first.to_json() == {"status": "stored", "run": rid, "pending": True}
    assert accept_event(lcat.store, lcat.principal, done).pending
    assert not accept_event(lcat.store, lcat.principal, done).pending  # a duplicate: nothing to fold
    assert _run(lcat, rid) is None
    assert lcat.store.pending_lineage()["waiting"] == 2
    assert fold_pending(lcat.store) == 2
    run = _run(lcat, rid)
    assert run is not None and run.status == "finished"
    assert lcat.store.pending_lineage() == {"waiting": 0, "failed": 0, "failed_runs": 0, "failures": []}
    assert lcat.impact("source", "site").counts()["models"] == 1
    assert fold_pending(lcat.store) == 0


def test_a_refused_event_is_400_and_stores_nothing(lcat: disgorge.Catalog) -> None:
    with pytest.raises(InputError, match="needs a timezone"):
        accept_event(
            lcat.store,
            lcat.principal,
            airflow_task(new_id(), "START", time="2026-12-01T10:00:00", inputs=[], outputs=[]),
        )
    assert lcat.store.pending_lineage()["waiting"] == 0


def test_the_fold_is_reported_as_made_by_who_posted_the_events(
    lcat: disgorge.Catalog, photos: Path, people: dict[str, Identity]
) -> None:
    """The folder thread acts for nobody; the ledger says the engineer who posted reported the run."""
    eve = resolve(lcat.store, people["eve"])
    rid = new_id()
    token = ACTOR.set("eve")  # what the server's token check sets for eve's request
    try:
        for doc in _trained(photos, rid, "/models/eve.pt"):
            accept_event(lcat.store, eve, doc)
    finally:
        ACTOR.reset(token)
    Folder(lcat.store).settle()
    with lcat.store.session() as s:
        entries = [json.loads(e) for e in s.scalars(select(LedgerEntry.entry).order_by(LedgerEntry.seq))]
    mine = [e for e in entries if rid in json.dumps(e)]
    assert mine and {e["by"] for e in mine} == {"eve"}


def test_a_run_that_cannot_be_applied_is_reported_and_does_not_hold_up_others(
    lcat: disgorge.Catalog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = new_id(), new_id()
    for doc in (*_trained(photos, bad, "/models/bad.pt"), *_trained(photos, good, "/models/good.pt")):
        accept_event(lcat.store, lcat.principal, doc)
    _poison(monkeypatch, bad, "injected: this run cannot be applied")
    assert fold_pending(lcat.store) == 4
    assert _run(lcat, bad) is None and _run(lcat, good) is not None
    report = lcat.store.pending_lineage()
    assert (report["waiting"], report["failed"]) == (0, 2)
    assert report["failures"] == [{"run": bad, "reason": "injected: this run cannot be applied"}]
    assert fold_pending(lcat.store) == 0  # failed events are reported, not retried for ever


def test_the_planner_refuses_to_plan_past_acknowledged_events(lcat: disgorge.Catalog, photos: Path) -> None:
    for doc in _trained(photos, new_id(), "/models/bob.pt"):
        accept_event(lcat.store, lcat.principal, doc)
    with pytest.raises(ConflictError, match="not folded into the catalog yet"):
        _lineage_settled(lcat.store, wait=0.1)
    fold_pending(lcat.store)
    _lineage_settled(lcat.store, wait=0.1)


def test_a_cli_command_folds_what_a_server_left_pending(
    sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    """A server acknowledged the events and stopped before folding them: the next command sees them."""
    sqlite_cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    rid = new_id()
    for doc in _trained(photos, rid, "/models/bob.pt"):
        accept_event(sqlite_cat.store, sqlite_cat.principal, doc)
    assert sqlite_cat.impact("source", "site").counts()["models"] == 0
    proc = dg(tmp_path, "impact", "--source", "site", "--json", home="home")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["models"] == 1


def test_one_at_a_time_and_batches_mixed_give_the_batch_catalog(lcat: disgorge.Catalog, photos: Path) -> None:
    """Events of the same runs accepted one by one, folded in rounds of odd sizes, with some of them
    sent again in synchronous batches in between: the same runs, models and statuses as one batch."""
    docs: list[dict[str, Any]] = []
    for n in range(12):
        docs += _trained(photos, new_id(), f"/models/m{n}.pt")
    for i, doc in enumerate(docs[::-1]):
        accept_event(lcat.store, lcat.principal, doc)
        if i % 5 == 4:
            fold_pending(lcat.store, limit=3)
        if i % 7 == 6:
            ingest_batch(lcat.store, lcat.principal, docs[i - 2 : i + 1])
    fold_pending(lcat.store)
    uids = {d["run"]["runId"] for d in docs}
    with lcat.store.session() as s:
        got = {(r.uid, r.status) for r in s.scalars(select(Run).where(Run.uid.in_(uids)))}
    assert got == {(u, "finished") for u in uids}
    assert lcat.impact("source", "site").counts()["models"] == 12


def test_a_fold_covers_what_was_pending_when_it_began(lcat: disgorge.Catalog, photos: Path) -> None:
    """Events arriving while a reader settles wait for the next fold, so a steady stream of them
    cannot keep the reader folding for ever."""
    old, new = new_id(), new_id()
    for doc in _trained(photos, old, "/models/old.pt"):
        accept_event(lcat.store, lcat.principal, doc)
    top = lcat.store.pending_lineage_top()
    for doc in _trained(photos, new, "/models/new.pt"):
        accept_event(lcat.store, lcat.principal, doc)
    ids, uids = lcat.store.fold_pending_lineage(lambda b: _fold_all(b, {}), upto=top)
    assert (len(ids), uids) == (2, [old])
    assert lcat.store.pending_lineage()["waiting"] == 2
    assert fold_pending(lcat.store) == 2 and lcat.store.pending_lineage_top() is None


def test_check_runs_names_a_reported_run_that_could_not_be_folded(
    sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real entry point, from the home's folder: the command folds what is pending, one
    run cannot be applied, and ``check --runs`` says so with exit 1 (it is missing from every answer)."""
    sqlite_cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    bad = new_id()
    for doc in _trained(photos, bad, "/models/bad.pt"):
        accept_event(sqlite_cat.store, sqlite_cat.principal, doc)
    _poison(monkeypatch, bad, "injected: cannot apply")
    proc = dg(tmp_path, "check", "--runs", "--json", home="home")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["not_folded"] == [{"run": bad, "reason": "injected: cannot apply"}]
    human = dg(tmp_path, "check", "--runs", home="home")
    assert human.returncode == 1
    assert f"run {bad}: reported by OpenLineage but not in the catalog" in human.stdout
    cov = dg(tmp_path, "coverage", home="home")
    assert "OpenLineage events not folded in: 0 waiting, 2 failed" in cov.stdout


def test_a_failed_run_that_folds_later_is_no_longer_reported(
    lcat: disgorge.Catalog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer sends the rest of a run whose first fold failed: the run folds from all its
    events, and nothing warns of it any more (a stale mark would make every plan cry wolf)."""
    bad = new_id()
    start, done = _trained(photos, bad, "/models/bad.pt")
    accept_event(lcat.store, lcat.principal, start)
    _poison(monkeypatch, bad, "injected: this run cannot be applied")
    fold_pending(lcat.store)
    assert lcat.store.pending_lineage()["failed_runs"] == 1
    monkeypatch.undo()
    accept_event(lcat.store, lcat.principal, done)
    fold_pending(lcat.store)
    assert lcat.store.pending_lineage() == {"waiting": 0, "failed": 0, "failed_runs": 0, "failures": []}
    run = _run(lcat, bad)
    assert run is not None and run.status == "finished"


def test_the_planner_warns_of_runs_that_could_not_be_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run a producer reported that the catalog could not fold may have read the subject's photos:
    the plan cannot include it, and planning, showing, approving and the dry run all say so, from a
    working directory through the CLI."""
    from tests.conftest import PEOPLE, claim, write_photo

    new_home(tmp_path)
    PEOPLE["ann"].save(tmp_path / "ann.identity")
    monkeypatch.setenv("DISGORGE_IDENTITY", str(tmp_path / "ann.identity"))
    with disgorge.open(tmp_path / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
    for k in range(2):
        write_photo(tmp_path / "photos" / "bob" / f"p{k}.jpg", "bob", 70 + k)
    dg_json(tmp_path, "ingest", "photos", "--source", "site", "--subject-from", "parent-dir")
    bad = new_id()
    with disgorge.open(tmp_path / "home", identity=PEOPLE["ann"]) as cat:
        for doc in _trained(tmp_path / "photos", bad, "/models/bad.pt"):
            accept_event(cat.store, cat.principal, doc)
    _poison(monkeypatch, bad, "injected: cannot apply")
    order = ("erase", "plan", "--subject", "bob", "--reason", "request", "--legal-basis", "GDPR 17")
    proc = dg(tmp_path, *order)
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stderr.split())
    assert "the OpenLineage events of 1 captured runs could not be folded" in said
    assert f"run {bad}: injected: cannot apply" in said
    plan = dg_json(tmp_path, *order)
    expected = {"count": 1, "examples": [{"run": bad, "reason": "injected: cannot apply"}]}
    assert plan["unreachable"]["unfolded"] == expected
    for step in (("erase", "show", plan["plan_id"]), ("erase", "run", plan["plan_id"])):
        proc = dg(tmp_path, *step)
        assert proc.returncode == 0, proc.stderr
        assert "could not be folded" in " ".join(proc.stderr.split()), step
    assert dg_json(tmp_path, "erase", "run", plan["plan_id"])["unreachable"]["unfolded"] == expected
