"""After an erasure, captured lineage forgets the erased paths: the OpenLineage input naming bob's own
folder (his address, in a folder-per-person layout) is a keyed hash in the captured rows, the raw events
and the ``captured:`` dataset; a run that read the whole photo folder keeps its path."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

from sqlalchemy import select

import disgorge
from disgorge.capture import ingest_batch
from disgorge.catalog.schema import CapturedIO, Dataset, LineageEvent
from tests.capture.events import AIRFLOW, airflow_task, ds, event, facet
from tests.conftest import accept_notices, approve


def _read(cat: disgorge.Catalog, folder: Path, table: str) -> str:
    rid = str(uuid.uuid4())
    events = [
        airflow_task(rid, "START", time="2026-12-01T10:00:00Z", inputs=[ds("file", str(folder))], outputs=[]),
        airflow_task(
            rid, "COMPLETE", time="2026-12-01T10:30:00Z", inputs=[], outputs=[ds("s3://features", table)]
        ),
    ]
    assert all(r.ok for r in ingest_batch(cat.store, cat.principal, events))
    return rid


def _everything(cat: disgorge.Catalog) -> str:
    with cat.store.session() as s:
        ios = [f"{r.uri} {r.name} {r.reason}" for r in s.scalars(select(CapturedIO))]
        bodies = list(s.scalars(select(LineageEvent.body)))
        names = [f"{d.name} {d.query}" for d in s.scalars(select(Dataset))]
    return "\n".join(ios + bodies + names)


def test_the_erased_subjects_folder_is_forgotten_and_the_shared_folder_kept(
    world: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    bob, everyone = photos.resolve() / "bob", photos.resolve()
    _read(world, bob, "t1")
    _read(world, everyone, "t2")
    accept_notices(world, "undeclared")  # the party of a run that declared none
    before = _everything(world)
    assert f"{bob}" in before and "captured:file://" in before
    plan, _ = world.erasures.plan(
        scope=("subject", "bob"), withdrawn=False, reason="request", legal_basis="GDPR Art. 17"
    )
    approve(world, plan.id)
    report = world.erasures.run(plan.id, dry_run=False)
    assert report.status == "done", report.problems
    after = _everything(world)
    assert [line for line in after.splitlines() if "/bob" in line] == []
    assert "keyed:" in after
    with world.store.session() as s:
        kept = set(s.scalars(select(CapturedIO.uri)))
    assert everyone.as_uri() in kept  # other people's lineage still reads as it did
    assert world.erasures.run(plan.id, dry_run=False).status == "done"  # idempotent


def test_the_raw_event_forgets_the_erased_folder_wherever_its_producer_named_it(
    world: disgorge.Catalog, photos: Path
) -> None:
    """Producers name data in facets as well as in ``inputs``: a symlink, a data source's URI, the SQL
    text of the job, a file under the folder. None of them may name bob after his erasure; a sibling
    whose name only starts like his (``/photos/bobby``) and the shared folder stay as they were."""
    bob, everyone = photos.resolve() / "bob", photos.resolve()
    p = AIRFLOW
    bob_in = ds(
        "file",
        str(bob),
        facets={
            "symlinks": facet(
                p,
                "1-0-1/SymlinksDatasetFacet.json",
                identifiers=[{"namespace": "file", "name": f"{bob}/p0.jpg", "type": "FILE"}],
            ),
            "dataSource": facet(p, "1-0-1/DatasourceDatasetFacet.json", name="bob", uri=bob.as_uri()),
        },
    )
    query = f"COPY photos FROM '{bob}/p1.jpg', '{everyone}/bobby/p0.jpg', '{everyone}'"
    rid = str(uuid.uuid4())
    docs = [
        event(
            "START",
            rid,
            ("default", "copy"),
            time="2026-12-01T10:00:00Z",
            inputs=[bob_in, ds("file", str(everyone))],
            outputs=[],
            job_facets={"sql": facet(p, "1-1-0/SQLJobFacet.json", query=query)},
        ),
        event(
            "COMPLETE",
            rid,
            ("default", "copy"),
            time="2026-12-01T10:30:00Z",
            outputs=[ds("s3://features", "t3")],
        ),
    ]
    assert all(r.ok for r in ingest_batch(world.store, world.principal, docs))
    accept_notices(world, "undeclared")
    plan, _ = world.erasures.plan(
        scope=("subject", "bob"), withdrawn=False, reason="request", legal_basis="GDPR Art. 17"
    )
    approve(world, plan.id)
    assert world.erasures.run(plan.id, dry_run=False).status == "done"
    with world.store.session() as s:
        bodies = [
            json.loads(b) for b in s.scalars(select(LineageEvent.body).where(LineageEvent.run_uid == rid))
        ]
        digests = set(s.scalars(select(LineageEvent.digest).where(LineageEvent.run_uid == rid)))
    text = json.dumps(bodies)
    assert re.search(re.escape(str(bob)) + r"(?!by)", text) is None  # bobby is someone else
    start = next(b for b in bodies if b["eventType"] == "START")
    assert start["job"]["facets"]["sql"]["query"].startswith("COPY photos FROM 'keyed:")
    assert f"'{everyone}/bobby/p0.jpg', '{everyone}'" in start["job"]["facets"]["sql"]["query"]
    assert {"namespace": "file", "name": str(everyone)} in start["inputs"]
    canonical = {
        hashlib.sha256(
            json.dumps(b, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        for b in bodies
    }
    assert digests == canonical  # each digest is its rewritten body's
