"""OpenLineage events into the catalog: names resolve to registered copies, prefixes and dataset
versions; unknown inputs are kept and flagged; runs fold in any order; models get their parents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import disgorge
from disgorge.capture import ingest_batch, ingest_event
from disgorge.catalog.schema import CapturedIO, CapturedRunRow, Run
from tests.as_a_person import dg
from tests.capture.events import SPARK, airflow_task, dbt_model, ds, event, facet, new_id, spark_job


def _send(cat: disgorge.Catalog, *docs: dict[str, Any]) -> list[Any]:
    return ingest_batch(cat.store, cat.principal, list(docs))


def _io(cat: disgorge.Catalog, uid: str) -> dict[str, tuple[str | None, str | None]]:
    with cat.store.session() as s:
        run_id = s.scalar(select(Run.id).where(Run.uid == uid))
        rows = s.scalars(select(CapturedIO).where(CapturedIO.run_id == run_id)).all()
        return {f"{r.direction}:{r.uri}": (r.node_kind, r.how) for r in rows}


def test_a_folder_of_registered_photos_resolves_record_by_record(
    lcat: disgorge.Catalog, photos: Path
) -> None:
    """Spark reads the photo folder (a prefix of nine registered copies) and writes a model: the run reads
    exactly those nine assets, and the source's impact reaches the model."""
    rid = new_id()
    out = spark_job(
        rid,
        "COMPLETE",
        time="2026-12-01T11:00:00Z",
        inputs=[ds("file", str(photos.resolve()))],
        outputs=[ds("file", "/models/face-spark.pt")],
    )
    (result,) = _send(lcat, out)
    assert (result.status, result.resolved, result.unknown) == ("stored", 1, [])
    assert _io(lcat, rid)[f"input:{photos.resolve().as_uri()}"] == ("dataset", "storage_prefix")
    wrapped = lcat.store.get_dataset("captured:" + photos.resolve().as_uri())
    assert wrapped.member_count == 9
    impact = lcat.impact("source", "site")
    assert [m["uris"] for m in impact.models] == [["file:///models/face-spark.pt"]] or any(
        m.get("name") is None for m in impact.models
    )
    assert impact.counts()["models"] == 1
    assert rid in {r["uid"] for r in impact.runs}


def test_one_photo_by_its_exact_copy(lcat: disgorge.Catalog, photos: Path) -> None:
    rid = new_id()
    one = (photos / "alice" / "p0.jpg").resolve()
    _send(
        lcat,
        airflow_task(rid, "COMPLETE", time="2026-12-01T10:00:00Z", inputs=[ds("file", str(one))], outputs=[]),
    )
    assert _io(lcat, rid)[f"input:{one.as_uri()}"] == ("dataset", "copy")
    assert lcat.store.get_dataset("captured:" + one.as_uri()).member_count == 1


def test_a_prefix_is_a_folder_not_a_string_prefix(lcat: disgorge.Catalog, photos: Path) -> None:
    """``photos/al`` is not a prefix of ``photos/alice/p0.jpg``: partial names resolve to nothing."""
    rid = new_id()
    partial = str(photos.resolve() / "al")
    _send(
        lcat,
        airflow_task(rid, "COMPLETE", time="2026-12-01T10:00:00Z", inputs=[ds("file", partial)], outputs=[]),
    )
    assert _io(lcat, rid)[f"input:{Path(partial).as_uri()}"] == (None, None)


@pytest.mark.parametrize(
    ("namespace", "name", "facets"),
    [
        ("disgorge", "faces@1", {}),
        (
            "disgorge",
            "faces",
            {"version": facet(SPARK, "1-0-0/DatasetVersionDatasetFacet.json", datasetVersion="1")},
        ),
    ],
    ids=["name@version", "version_facet"],
)
def test_a_dataset_version_named_directly(
    lcat: disgorge.Catalog, namespace: str, name: str, facets: dict[str, Any]
) -> None:
    rid = new_id()
    doc = event("COMPLETE", rid, ("ml", "train"), inputs=[ds(namespace, name, facets=facets)])
    (result,) = _send(lcat, doc)
    assert result.resolved == 1
    faces = lcat.store.get_dataset("faces@1")
    with lcat.store.session() as s:
        row = s.scalar(select(CapturedIO).where(CapturedIO.direction == "input"))
        assert row is not None and (row.node_kind, row.node_id, row.how) == (
            "dataset",
            faces.id,
            "dataset_version",
        )


def test_the_manifest_digest_pins_the_exact_version(lcat: disgorge.Catalog) -> None:
    """A job reading an export under any name says which version it read by its manifest digest."""
    faces = lcat.store.get_dataset("faces@1")
    good, bad = new_id(), new_id()
    pinned = {"disgorge": {"_producer": "me", "_schemaURL": "x", "manifestDigest": faces.digest}}
    wrong = {"disgorge": {"_producer": "me", "_schemaURL": "x", "manifestDigest": "0" * 64}}
    _send(
        lcat,
        event(
            "COMPLETE", good, ("ml", "train"), inputs=[ds("s3://exports", "faces.tar", inputFacets=pinned)]
        ),
        event("COMPLETE", bad, ("ml", "train"), inputs=[ds("s3://exports", "faces.tar", inputFacets=wrong)]),
    )
    assert _io(lcat, good)["input:s3://exports/faces.tar"] == ("dataset", "manifest_digest")
    assert _io(lcat, bad)["input:s3://exports/faces.tar"] == (None, None)
    (flagged,) = lcat.unknown_provenance_runs()
    assert flagged["uid"] == bad
    assert (
        "manifest digest 0000000000000000… is not a registered dataset version"
        in flagged["unknown"][0]["reason"]
    )


def test_unknown_inputs_are_kept_and_check_runs_flags_them(
    sqlite_cat: disgorge.Catalog, tmp_path: Path
) -> None:
    """Through the real entry point, from the home's folder, output piped."""
    lcat = sqlite_cat
    rid = new_id()
    doc = dbt_model(
        rid,
        "COMPLETE",
        time="2026-12-01T12:00:00Z",
        inputs=[ds("postgres://db.internal:5432", "app.public.photos")],
        outputs=[ds("postgres://db.internal:5432", "app.analytics.member_photos")],
    )
    (result,) = _send(lcat, doc)
    assert result.unknown == ["postgres://db.internal:5432/app.public.photos"]
    proc = dg(tmp_path, "check", "--runs", "--json", home="home")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [u["name"] for u in report["unknown_provenance"]] == [
        "dbt/jaffle_shop.model.jaffle_shop.member_photos"
    ]
    human = dg(tmp_path, "check", "--runs", home="home")
    assert human.returncode == 1
    assert "1 inputs of unknown provenance" in human.stdout + human.stderr


def test_start_and_complete_fold_in_either_order(lcat: disgorge.Catalog, photos: Path) -> None:
    a, b = new_id(), new_id()
    inp = [ds("file", str(photos.resolve() / "bob"))]
    start = lambda rid: airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=inp, outputs=[])  # noqa: E731
    done = lambda rid: airflow_task(  # noqa: E731
        rid, "COMPLETE", time="2026-12-01T10:05:00Z", inputs=[], outputs=[ds("file", "/m/x.safetensors")]
    )
    _send(lcat, start(a), done(a))
    _send(lcat, done(b))
    _send(lcat, start(b))
    with lcat.store.session() as s:
        runs = {r.uid: r for r in s.scalars(select(Run).where(Run.uid.in_([a, b])))}
    for uid in (a, b):
        r = runs[uid]
        assert (r.status, r.started_at.minute, r.ended_at.minute if r.ended_at else None) == (
            "finished",
            0,
            5,
        )
        assert set(_io(lcat, uid)) == {
            f"input:{(photos.resolve() / 'bob').as_uri()}",
            "output:file:///m/x.safetensors",
        }


def test_a_later_failure_wins_and_duplicates_change_nothing(lcat: disgorge.Catalog) -> None:
    rid = new_id()
    done = event("COMPLETE", rid, ("a", "b"), time="2026-12-01T10:05:00Z")
    failed = event("FAIL", rid, ("a", "b"), time="2026-12-01T10:06:00Z")
    assert [r.status for r in _send(lcat, failed, done, done)] == ["stored", "stored", "duplicate"]
    assert ingest_event(lcat.store, lcat.principal, json.dumps(failed)).status == "duplicate"
    with lcat.store.session() as s:
        run = s.scalar(select(Run).where(Run.uid == rid))
        cap = s.get(CapturedRunRow, run.id if run else 0)
        assert run is not None and run.status == "failed"
        assert cap is not None and cap.events == 2


def test_same_key_different_body_is_a_conflict_kept_beside(lcat: disgorge.Catalog) -> None:
    """Two different bodies under one (run, type, time) are both kept and both folded, so the catalog is
    the same in either order; the second is reported as a conflict."""
    rid, rid2 = new_id(), new_id()

    def pair(uid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        x = event("COMPLETE", uid, ("a", "b"), inputs=[ds("s3://b", "one")])
        y = event("COMPLETE", uid, ("a", "b"), inputs=[ds("s3://b", "two")])
        return x, y

    x, y = pair(rid)
    _send(lcat, x)
    assert [r.status for r in _send(lcat, y)] == ["conflict"]
    x2, y2 = pair(rid2)
    _send(lcat, y2)
    _send(lcat, x2)
    names = lambda uid: {k.rsplit("/", 1)[1] for k in _io(lcat, uid)}  # noqa: E731
    assert names(rid) == names(rid2)
    assert names(rid) == {"one", "two"}
    assert sorted(lcat.store.lineage_event_bodies([rid])[rid]) == sorted(
        b.replace(rid2, rid) for b in lcat.store.lineage_event_bodies([rid2])[rid2]
    )


def test_models_chain_across_producers_in_any_order(lcat: disgorge.Catalog, photos: Path) -> None:
    """Spark pretrains on the photos and writes base.pt; an Airflow task fine-tunes base.pt into tuned.pt.
    The fine-tune arrives first: its input binds when base.pt is reported, and tuned.pt is a child of it."""
    pre, tune = new_id(), new_id()
    tune_ev = airflow_task(
        tune,
        "COMPLETE",
        time="2026-12-01T12:00:00Z",
        inputs=[ds("file", "/models/base.pt")],
        outputs=[
            ds(
                "file",
                "/models/tuned.pt",
                outputFacets={
                    "disgorge": {
                        "_producer": "me",
                        "_schemaURL": "x",
                        "name": "face-tuned",
                        "sha256": "ab" * 32,
                    }
                },
            )
        ],
    )
    (first,) = _send(lcat, tune_ev)
    assert first.unknown == ["file:///models/base.pt"]
    _send(
        lcat,
        spark_job(
            pre,
            "COMPLETE",
            time="2026-12-01T11:00:00Z",
            inputs=[ds("file", str(photos.resolve()))],
            outputs=[ds("file", "/models/base.pt")],
        ),
    )
    assert _io(lcat, tune)["input:file:///models/base.pt"] == ("artifact", "artifact_copy")
    assert lcat.unknown_provenance_runs() == []
    bom = lcat.lineage("face-tuned")
    assert [p["relation"] for p in bom.parents if p["relation"] != "input"] == ["fine_tuned_from"]
    assert bom.asset_count == 9
    assert lcat.store.resolve_artifact("face-tuned").sha256 == "ab" * 32


def test_a_table_written_by_one_job_and_read_by_another(lcat: disgorge.Catalog, photos: Path) -> None:
    """dbt-style: job A reads photos and writes a feature table, job B reads the table and writes a model.
    The source's impact reaches B's model through the table; check --runs follows it to A's inputs."""
    a, b = new_id(), new_id()
    table = ds("postgres://db:5432", "app.features.faces")
    b_ev = event(
        "COMPLETE",
        b,
        ("ml", "train"),
        inputs=[table],
        outputs=[ds("s3://models", "face.onnx")],
        run_facets={
            "disgorge": {"_producer": "me", "_schemaURL": "x", "use": "train_ai_system", "party": "acme"}
        },
    )
    a_ev = event(
        "COMPLETE", a, ("dbt", "features"), inputs=[ds("file", str(photos.resolve()))], outputs=[table]
    )
    _send(lcat, b_ev)
    _send(lcat, a_ev)
    assert _io(lcat, b)["input:postgres://db:5432/app.features.faces"] == ("run", "run_output")
    impact = lcat.impact("source", "site")
    assert {r["uid"] for r in impact.runs} >= {a, b}
    assert impact.counts()["models"] == 1
    reviews = lcat.review_runs()
    assert b in {r.run["uid"] for r in reviews}


@pytest.mark.parametrize("reader_first", [True, False])
def test_a_writer_and_its_reader_in_one_batch(
    lcat: disgorge.Catalog, photos: Path, reader_first: bool
) -> None:
    """Rows first seen in a batch are resolved in memory before they are written: a table one job of
    the batch writes binds another job's input in the same batch, whichever comes first."""
    a, b = new_id(), new_id()
    table = ds("postgres://db:5432", "app.features.faces")
    a_ev = event(
        "COMPLETE", a, ("dbt", "features"), inputs=[ds("file", str(photos.resolve()))], outputs=[table]
    )
    b_ev = event("COMPLETE", b, ("ml", "train"), inputs=[table], outputs=[ds("s3://models", "face.onnx")])
    results = ingest_batch(lcat.store, lcat.principal, [b_ev, a_ev] if reader_first else [a_ev, b_ev])
    assert [r.status for r in results] == ["stored", "stored"]
    assert _io(lcat, b)["input:postgres://db:5432/app.features.faces"] == ("run", "run_output")
    assert lcat.impact("source", "site").counts()["models"] == 1


def test_a_run_recorded_twice_in_one_batch_keeps_its_start(lcat: disgorge.Catalog) -> None:
    from datetime import UTC, datetime

    from disgorge.model.capture import CapturedRun

    t0, t1 = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC)
    common = {
        "uid": "r-twice",
        "source": "mlflow",
        "producer": "mlflow",
        "name": "mlflow/t",
        "use": "u",
        "party": "p",
    }
    lcat.store.apply_captured_runs(
        [
            CapturedRun(**common, status="running", started_at=t0),
            CapturedRun(**common, status="finished", ended_at=t1),
        ]
    )
    with lcat.store.session() as s:
        row = s.scalar(select(Run).where(Run.uid == "r-twice"))
        assert row is not None
        assert (row.status, row.started_at.replace(tzinfo=UTC), row.ended_at.replace(tzinfo=UTC)) == (
            "finished",
            t0,
            t1,
        )


def test_parent_run_and_declared_use_are_recorded(lcat: disgorge.Catalog) -> None:
    rid = new_id()
    doc = airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=[], outputs=[])
    doc["run"]["facets"]["disgorge"] = {
        "_producer": "me",
        "_schemaURL": "x",
        "use": "train_ai_system",
        "party": "acme",
    }
    _send(lcat, doc)
    with lcat.store.session() as s:
        run = s.scalar(select(Run).where(Run.uid == rid))
        assert run is not None and (run.use, run.party, run.status) == ("train_ai_system", "acme", "running")
        cap = s.get(CapturedRunRow, run.id)
        assert cap is not None and cap.parent_uid == "01890000-0000-7000-8000-000000000001"
        assert cap.producer.startswith("https://github.com/apache/airflow")
