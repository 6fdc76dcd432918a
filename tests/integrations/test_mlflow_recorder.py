"""The ``disgorge+`` store's background recorder: records coalesce per run in call order, ``flush`` waits
for them, and a failure to record is raised by the next ``flush`` (once), never lost."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

import disgorge
from disgorge.catalog.schema import CapturedIO, Run
from disgorge.errors import StoreError
from disgorge.model.capture import CapturedDataset, CapturedRun

pytest.importorskip("mlflow")
from disgorge.integrations.mlflow.recorder import Recorder, merge

T0, T1 = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC)


def _run(
    status: str = "running", *, inputs: tuple[str, ...] = (), ended: datetime | None = None
) -> CapturedRun:
    return CapturedRun(
        uid="r1",
        source="mlflow",
        producer="mlflow",
        name="mlflow/train",
        status=status,
        use="train_ai_system",
        party="acme",
        started_at=T0 if status == "running" else None,
        ended_at=ended,
        inputs=tuple(CapturedDataset(namespace="s3://b", name=n, uri=f"s3://b/{n}") for n in inputs),
    )


def test_merge_unites_inputs_and_never_erases_a_time() -> None:
    both = merge(_run(inputs=("a",)), _run("finished", inputs=("b",), ended=T1))
    assert [d.uri for d in both.inputs] == ["s3://b/a", "s3://b/b"]
    assert (both.status, both.started_at, both.ended_at) == ("finished", T0, T1)
    again = merge(both, _run(inputs=("a",)))
    assert (again.started_at, again.ended_at, len(again.inputs)) == (T0, T1, 2)


def test_flush_waits_for_the_catalog(sqlite_cat: disgorge.Catalog) -> None:
    rec = Recorder(lambda: sqlite_cat.store)
    rec.run(_run(inputs=("a",)))
    rec.run(_run("finished", inputs=("b",), ended=T1))
    rec.flush()
    with sqlite_cat.store.session() as s:
        row = s.scalar(select(Run).where(Run.uid == "r1"))
        assert row is not None and row.status == "finished"
        uris = sorted(s.scalars(select(CapturedIO.uri).where(CapturedIO.run_id == row.id)))
    assert uris == ["s3://b/a", "s3://b/b"]


class _Broken:
    """Fault injection: a catalog that cannot be written."""

    def reading(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def record_decisions(self, recs: object) -> None:
        pass

    def apply_captured_runs(self, runs: object) -> None:
        raise StoreError("the catalog at sqlite:///x failed: disk I/O error", hint="check the disk")


def test_a_failure_to_record_is_raised_by_the_next_flush_once() -> None:
    rec = Recorder(lambda: _Broken())  # type: ignore[arg-type,return-value]
    rec.run(_run())
    with pytest.raises(StoreError, match="disk I/O error"):
        rec.flush()
    rec.flush()  # reported once; nothing left queued
