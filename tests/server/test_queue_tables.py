"""Server workers start at once: each makes the job queue, and on a new PostgreSQL catalog each
creates its tables. Seen with `disgorge serve --workers 2`: one worker failed to start with a unique
violation on `pg_type` (two `CREATE TABLE IF NOT EXISTS` of the same table from two sessions)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import disgorge
from disgorge.jobs.queue import make_huey
from tests.conftest import fresh_pg_database


def _make_at_once(cat: disgorge.Catalog, n: int) -> list[Exception]:
    start, errors = threading.Barrier(n), []

    def make() -> None:
        start.wait()
        try:
            make_huey(cat).storage.close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_queues_made_at_once_on_a_new_postgresql_catalog_all_start(
    tmp_path: Path, pg_available: bool
) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable (set DISGORGE_TEST_PG)")
    for attempt in range(4):  # the race is narrow: several new catalogs, six queues made on each
        with fresh_pg_database() as url, disgorge.open(tmp_path / f"home{attempt}", catalog_url=url) as cat:
            assert _make_at_once(cat, 6) == []
