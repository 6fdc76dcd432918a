"""The real openlineage-python client (HttpTransport, gzip on and off) against a real ``disgorge serve``."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunEvent, RunState
from openlineage.client.event_v2 import Run as OLRun
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from sqlalchemy import select

from disgorge.catalog.schema import CapturedIO, Run
from disgorge.ingest import IngestOptions
from tests.capture.events import airflow_pair, airflow_task, ds, event

from .conftest import LiveServer, Team

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def _client(team: Team, who: str, *, gzip_on: bool) -> OpenLineageClient:
    config = HttpConfig(
        url=team.url,
        auth=ApiKeyTokenProvider({"apiKey": team.tokens[who]}),
        compression=HttpCompression.GZIP if gzip_on else None,
        retry={"total": 0},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _event(state: RunState, run_id: str, when: str, photos: Path | None = None) -> RunEvent:
    inputs = [InputDataset(namespace="file", name=str(photos.resolve()))] if photos else []
    outputs = [] if photos else [OutputDataset(namespace="file", name="/models/ol-face.pt")]
    return RunEvent(
        eventType=state,
        eventTime=when,
        run=OLRun(runId=run_id),
        job=Job(namespace="airflow", name="faces.train"),
        producer=PRODUCER,
        inputs=inputs,
        outputs=outputs,
    )


def test_the_openlineage_client_records_a_run_with_gzip_on_and_off(team: Team, photos: Path) -> None:
    team.cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    run_id = str(uuid.uuid4())
    _client(team, "eve", gzip_on=False).emit(_event(RunState.START, run_id, "2026-12-01T10:00:00Z", photos))
    _client(team, "eve", gzip_on=True).emit(_event(RunState.COMPLETE, run_id, "2026-12-01T10:30:00Z"))
    _client(team, "eve", gzip_on=True).emit(_event(RunState.COMPLETE, run_id, "2026-12-01T10:30:00Z"))
    # acknowledged before it is folded; the next request that reads the catalog sees it folded
    shown = team.client("dan").get(f"/api/v1/runs/{run_id}")
    assert shown.status_code == 200 and shown.json()["status"] == "finished", shown.text
    with team.cat.store.session() as s:
        run = s.scalar(select(Run).where(Run.uid == run_id))
        assert run is not None and (run.name, run.status) == ("airflow/faces.train", "finished")
        ios = {
            (io.direction, io.how) for io in s.scalars(select(CapturedIO).where(CapturedIO.run_id == run.id))
        }
    assert ios == {("input", "storage_prefix"), ("output", "model")}
    assert team.cat.impact("source", "site").counts()["models"] == 1


def test_refusals_are_400_with_a_reason_and_roles_are_checked(team: Team) -> None:
    bad = _event(RunState.START, str(uuid.uuid4()), "2026-12-01T10:00:00")  # no timezone
    with pytest.raises(requests.HTTPError, match="400") as info:
        _client(team, "eve", gzip_on=True).emit(bad)
    assert "eventTime: Value error, needs a timezone" in info.value.response.json()["message"]
    with pytest.raises(requests.HTTPError, match="403"):
        _client(team, "dan", gzip_on=False).emit(
            _event(RunState.START, str(uuid.uuid4()), "2026-12-01T10:00:00Z")
        )
    r = team.client().post("/api/v1/lineage", content=b"{}")
    assert r.status_code == 401


def test_hostile_bodies(team: Team) -> None:
    eve = team.client("eve")
    bomb = gzip.compress(b"{" + b" " * (64 << 20) + b"}")
    r = eve.post("/api/v1/lineage", content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "inflates to over" in r.json()["message"]
    r = eve.post("/api/v1/lineage", content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "not valid gzip" in r.json()["message"]
    r = eve.post("/api/v1/lineage", content=b"x" * (2 << 20))
    assert r.status_code == 400 and "request body is over" in r.json()["message"]
    r = eve.post("/api/v1/lineage", content=b"{}", headers={"Content-Encoding": "br"})
    assert r.status_code == 400


def test_the_batch_endpoint_answers_per_event(team: Team) -> None:
    rid = str(uuid.uuid4())
    good = airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=[ds("s3://x", "y")], outputs=[])
    bad = event("START", "nope", ("a", "b"))
    body = gzip.compress(json.dumps([good, bad, good]).encode())
    r = team.client("eve").post("/api/v1/lineage/batch", content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [x["status"] for x in doc["results"]] == ["stored", "refused", "duplicate"]
    assert doc["results"][0]["unknown"] == ["s3://x/y"]
    assert (doc["accepted"], doc["refused"]) == (2, 1)
    r = team.client("eve").post("/api/v1/lineage/batch", content=b'{"events": 3}')
    assert r.status_code == 400 and "not a JSON array" in r.json()["message"]


def test_one_event_is_acknowledged_before_it_is_folded_and_no_reader_misses_it(
    team: Team, photos: Path
) -> None:
    """201 once stored (``pending``); ``?fold=now`` answers with the resolution; a burst from several
    producers at once is all in the next answer of any other route."""
    import threading

    team.cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    folder = str(photos.resolve() / "bob")
    eve = team.client("eve")
    rid = str(uuid.uuid4())
    start = airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=[ds("file", folder)], outputs=[])
    r = eve.post("/api/v1/lineage", json=start)
    assert r.status_code == 201 and r.json() == {"status": "stored", "run": rid, "pending": True}
    r = eve.post("/api/v1/lineage", params={"fold": "now"}, json=start)
    assert r.status_code == 201 and r.json()["status"] == "duplicate"
    other = str(uuid.uuid4())
    r = eve.post(
        "/api/v1/lineage",
        params={"fold": "now"},
        json=airflow_task(
            other, "START", time="2026-12-01T10:00:00Z", inputs=[ds("file", folder)], outputs=[]
        ),
    )
    assert r.status_code == 201 and r.json()["resolved"] == 1 and "pending" not in r.json()

    def producer(k: int) -> None:
        with httpx.Client(base_url=team.url, headers=eve.headers, timeout=30) as c:
            for n in range(10):
                for doc in airflow_pair(str(uuid.uuid4()), folder, f"/models/p{k}-{n}.pt"):
                    assert c.post("/api/v1/lineage", json=doc).status_code == 201

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    impact = team.client("dan").get("/api/v1/impact", params={"kind": "source", "value": "site"})
    assert impact.status_code == 200, impact.text
    assert impact.json()["counts"]["models"] == 30
    cov = team.client("dan").get("/api/v1/coverage").json()
    assert cov["events"] == {"waiting": 0, "failed": 0, "failed_runs": 0, "failures": []}


def test_what_a_stopped_server_left_pending_is_folded_when_one_starts(
    team: Team, photos: Path, tmp_path: Path
) -> None:
    from disgorge.capture import accept_event

    team.cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    team.server.stop()
    rid = str(uuid.uuid4())
    inp = [ds("file", str(photos.resolve() / "bob"))]
    for doc in (
        airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=inp, outputs=[]),
        airflow_task(
            rid, "COMPLETE", time="2026-12-01T10:30:00Z", inputs=[], outputs=[ds("file", "/m/x.pt")]
        ),
    ):
        accept_event(team.cat.store, team.cat.principal, doc)
    again = LiveServer(tmp_path, home="home", catalog_url=team.cat.store.url)
    try:
        with httpx.Client(base_url=again.url, headers=team.client("dan").headers) as dan:
            shown = dan.get(f"/api/v1/runs/{rid}")
        assert shown.status_code == 200 and shown.json()["status"] == "finished", shown.text
    finally:
        again.stop()
