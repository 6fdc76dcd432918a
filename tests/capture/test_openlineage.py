"""OpenLineage events: every fixture is valid 2-0-2 (checked with the spec's own JSON Schemas), and the
consumer refuses malformed and oversized events with a reason naming the field, storing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

import disgorge
from disgorge.capture import ingest_batch, ingest_event
from disgorge.capture.openlineage import MAX_EVENT_BYTES, parse
from disgorge.errors import InputError, PolicyDenied
from tests.capture.events import (
    airflow_task,
    dbt_model,
    ds,
    event,
    new_id,
    schema_errors,
    spark_job,
    spec_example_facets,
    with_facets,
)
from tests.conftest import as_


def _producers() -> list[dict[str, Any]]:
    rid = new_id()
    return [
        airflow_task(
            rid, "START", time="2026-12-01T10:00:00Z", inputs=[ds("s3://photos", "site/")], outputs=[]
        ),
        spark_job(
            new_id(),
            "COMPLETE",
            time="2026-12-01T11:00:00.123456Z",
            inputs=[ds("file", "/data/photos")],
            outputs=[ds("s3://features", "faces/embeddings.parquet")],
        ),
        dbt_model(
            new_id(),
            "COMPLETE",
            time="2026-12-01T12:00:00+01:00",
            inputs=[ds("postgres://db.internal:5432", "app.public.photos")],
            outputs=[ds("postgres://db.internal:5432", "app.analytics.member_photos")],
        ),
    ]


@pytest.mark.parametrize("doc", _producers(), ids=["airflow", "spark", "dbt"])
def test_producer_fixtures_are_valid_openlineage(doc: dict[str, Any]) -> None:
    assert schema_errors(doc) == []
    parse(doc)


EXAMPLES = spec_example_facets()


@pytest.mark.parametrize(("where", "name", "facets"), EXAMPLES, ids=[n for _, n, _ in EXAMPLES])
def test_spec_example_facets_build_valid_events_and_are_kept(
    sqlite_cat: disgorge.Catalog, where: str, name: str, facets: dict[str, Any]
) -> None:
    """Each of the spec's example facets, placed where its schema says, makes a valid event that the
    consumer stores with the facet exactly as sent (unknown facets are kept, not dropped)."""
    base = event("COMPLETE", new_id(), ("spec", "examples"))
    doc = with_facets(base, where, facets)
    assert schema_errors(doc) == [], name
    result = ingest_event(sqlite_cat.store, sqlite_cat.principal, doc)
    assert result.status == "stored"
    (body,) = sqlite_cat.store.lineage_event_bodies([result.run or ""])[result.run or ""]
    assert json.loads(body) == doc


def test_example_full_event_of_the_spec(sqlite_cat: disgorge.Catalog) -> None:
    from tests.capture.events import SPEC

    doc = json.loads((SPEC / "tests" / "example_full_event.json").read_text())
    assert ingest_event(sqlite_cat.store, sqlite_cat.principal, doc).status == "stored"


MALFORMED = [
    ("no_run_id", lambda d: d["run"].pop("runId"), "run.runId: Field required"),
    ("run_id_not_uuid", lambda d: d["run"].update(runId="run-42"), "run.runId: Input should be a valid UUID"),
    ("no_event_time", lambda d: d.pop("eventTime"), "eventTime: Field required"),
    (
        "naive_time",
        lambda d: d.update(eventTime="2026-12-01T10:00:00"),
        "eventTime: Value error, needs a timezone",
    ),
    ("bad_type", lambda d: d.update(eventType="FINISHED"), "eventType: Input should be 'START'"),
    (
        "empty_job_name",
        lambda d: d["job"].update(name=""),
        "job.name: String should have at least 1 character",
    ),
    (
        "input_not_object",
        lambda d: d["inputs"].append("s3://x/y"),
        "inputs[0]: Input should be a valid dictionary",
    ),
    (
        "input_no_namespace",
        lambda d: d["inputs"].append({"name": "t"}),
        "inputs[0].namespace: Field required",
    ),
    (
        "facet_not_object",
        lambda d: d["run"]["facets"].update(custom=[1, 2]),
        "run.facets.custom: Input should be a valid dictionary",
    ),
    (
        "parent_run_id_not_uuid",
        lambda d: d["run"]["facets"].update(
            parent={"run": {"runId": "x"}, "job": {"namespace": "a", "name": "b"}}
        ),
        "run.facets.parent.run.runId: Input should be a valid UUID",
    ),
    (
        "digest_not_hex",
        lambda d: d["inputs"].append(
            {"namespace": "s3://b", "name": "k", "inputFacets": {"disgorge": {"manifestDigest": "zz"}}}
        ),
        "inputs[0].inputFacets.disgorge.manifestDigest: String should match pattern",
    ),
    (
        "too_many_inputs",
        lambda d: d.update(inputs=[ds("s3://b", f"k{i}") for i in range(1001)]),
        "inputs: List should have at most 1000",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_events_are_refused_with_the_field_named(
    sqlite_cat: disgorge.Catalog, name: str, mutate: Any, reason: str
) -> None:
    doc = event("START", new_id(), ("airflow", "dag.task"))
    mutate(doc)
    with pytest.raises(InputError, match="event refused") as info:
        ingest_event(sqlite_cat.store, sqlite_cat.principal, doc)
    assert reason in info.value.message
    assert sqlite_cat.store.captured_summary() == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "event is not JSON"),
        (b"[1, 2]", "event is a JSON list, not an object"),
        (b"\xff\xfe", "event is not JSON"),
        (b'"START"', "event is a JSON str"),
    ],
)
def test_bytes_that_are_not_an_event(sqlite_cat: disgorge.Catalog, raw: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        ingest_event(sqlite_cat.store, sqlite_cat.principal, raw)


def test_oversized_event_is_refused_before_parsing(sqlite_cat: disgorge.Catalog) -> None:
    doc = event("START", new_id(), ("airflow", "dag.task"))
    doc["run"]["facets"]["blob"] = {"_producer": "x", "_schemaURL": "y", "data": "a" * MAX_EVENT_BYTES}
    with pytest.raises(InputError, match=f"over the {MAX_EVENT_BYTES}-byte limit"):
        ingest_event(sqlite_cat.store, sqlite_cat.principal, json.dumps(doc).encode())
    results = ingest_batch(sqlite_cat.store, sqlite_cat.principal, [doc])
    assert results[0].status == "refused"
    assert "over" in (results[0].reason or "")


def test_batch_reports_each_event_and_keeps_the_good_ones(sqlite_cat: disgorge.Catalog) -> None:
    good = event("START", new_id(), ("airflow", "dag.task"))
    bad = event("START", "nope", ("airflow", "dag.task"))
    dataset_event = {"eventTime": "2026-12-01T10:00:00Z", "producer": "p", "schemaURL": "s", "dataset": {}}
    results = ingest_batch(sqlite_cat.store, sqlite_cat.principal, [good, bad, dataset_event, good])
    assert [r.status for r in results] == ["stored", "refused", "ignored", "duplicate"]
    assert "run.runId" in (results[1].reason or "")
    assert len(sqlite_cat.store.captured_summary()) == 1


def test_only_engineers_and_admins_may_send_lineage(lcat: disgorge.Catalog) -> None:
    doc = event("START", new_id(), ("airflow", "dag.task"))
    with (
        as_(lcat, "dan") as auditor,
        pytest.raises(PolicyDenied, match=r"may not lineage.write \(roles auditor; needs: admin, engineer\)"),
    ):
        ingest_event(auditor.store, auditor.principal, doc)
    with as_(lcat, "eve") as engineer:
        assert ingest_event(engineer.store, engineer.principal, doc).status == "stored"
