"""``disgorge serve --workers 2``: two processes on one socket behave as one server (each request may
reach either: every test opens a new connection per request)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from disgorge.ingest import IngestOptions
from disgorge.server.routes.lookup import bucket_from_env
from tests.as_a_person import dg
from tests.capture.events import airflow_pair

from .conftest import LiveServer, Team


def _served(team: Team, tmp_path: Path) -> LiveServer:
    team.server.stop()
    return LiveServer(tmp_path, home="home", catalog_url=team.cat.store.url, args=("--workers", "2"))


def test_an_event_acknowledged_by_one_worker_is_folded_before_a_read_on_either(
    team: Team, photos: Path, tmp_path: Path
) -> None:
    team.cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    server = _served(team, tmp_path)
    folder = str(photos.resolve() / "bob")
    eve = {"Authorization": f"Bearer {team.tokens['eve']}"}
    dan = {"Authorization": f"Bearer {team.tokens['dan']}"}
    try:
        for n in range(12):
            run = str(uuid.uuid4())
            for doc in airflow_pair(run, folder, f"/m/{n}.pt"):
                r = httpx.post(f"{server.url}/api/v1/lineage", json=doc, headers=eve, timeout=30)
                assert r.status_code == 201 and r.json()["pending"] is True, r.text
            # at once, on a new connection: the fold is up to half a second away on the worker that
            # took the event, and this read may reach the other one
            r = httpx.get(f"{server.url}/api/v1/runs/{run}", headers=dan, timeout=30)
            assert r.status_code == 200 and r.json()["status"] == "finished", r.text
        impact = httpx.get(
            f"{server.url}/api/v1/impact", params={"kind": "source", "value": "site"}, headers=dan, timeout=30
        )
        assert impact.json()["counts"]["models"] == 12
    finally:
        assert server.stop() == 0, server.log.read_text()


def test_metrics_count_every_worker_and_a_stop_is_graceful(team: Team, tmp_path: Path) -> None:
    server = _served(team, tmp_path)

    def healthz_count() -> float:
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
        found = re.search(
            r'^disgorge_http_requests_total\{endpoint="/healthz",method="GET",status="200"\} (\S+)$',
            text,
            re.M,
        )
        assert found is not None, text
        return float(found.group(1))

    try:
        before = healthz_count()  # the start-up's polls
        for _ in range(30):
            assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        assert healthz_count() - before == 30  # one worker alone took only its share of them
        assert "with 2 workers" in server.log.read_text()
    finally:
        assert server.stop() == 0, server.log.read_text()


def test_workers_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    r = dg(tmp_path, "serve", "--workers", "0")
    assert r.returncode == 2 and "--workers 0 is out of range" in r.stderr


def test_each_worker_allows_its_share_of_the_lookup_limit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISGORGE_LOOKUP_PER_MINUTE", "10")
    monkeypatch.setenv("DISGORGE_LOOKUP_BURST", "10")
    one, two = bucket_from_env(), bucket_from_env(2)
    assert (one.rate, one.burst) == (10 / 60, 10)
    assert (two.rate, two.burst) == (5 / 60, 5)
