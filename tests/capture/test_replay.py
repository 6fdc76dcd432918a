"""10,000 events replayed in shuffled order (in batches, or one at a time acknowledged and folded later,
duplicates included) give the same catalog as one ordered pass: the fold depends only on the set of
events."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

import disgorge
from disgorge.capture import accept_event, fold_pending, ingest_batch
from disgorge.catalog.schema import Artifact, ArtifactCopy, CapturedIO, CapturedRunRow, Dataset, Edge, Run
from disgorge.ingest import IngestOptions
from tests.capture.events import airflow_task, ds, event, spark_job
from tests.conftest import write_photo

RUNS = 2000


def _events(photos: Path) -> list[dict[str, Any]]:
    """2,000 runs, five events each: chains of jobs where each reads what the one before wrote (tables
    and models), some reading the registered photos, some reading nothing registered."""
    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    for n in range(RUNS):
        rid = f"00000000-0000-4000-8000-{n:012x}"
        chain, step = divmod(n, 4)
        t = f"2026-12-01T{chain % 24:02d}:{step * 10:02d}:00Z"
        if step == 0:
            src = ds("file", str(photos / f"s{chain % 5}")) if chain % 3 else ds("s3://raw", f"c{chain}/dump")
            inputs, outputs = [src], [ds("s3://features", f"c{chain}/table")]
        elif step == 1:
            inputs, outputs = (
                [ds("s3://features", f"c{chain}/table")],
                [ds("file", f"/models/c{chain}/base.pt")],
            )
        elif step == 2:
            inputs = [ds("file", f"/models/c{chain}/base.pt"), ds("disgorge", "faces@1")]
            outputs = [ds("file", f"/models/c{chain}/tuned.safetensors")]
        else:
            inputs, outputs = (
                [ds("file", f"/models/c{chain}/tuned.safetensors")],
                [ds("s3://reports", f"c{chain}")],
            )
        make = spark_job if n % 2 else airflow_task
        out.append(make(rid, "START", time=t, inputs=inputs, outputs=[]))
        out.append(
            event("RUNNING", rid, ("x", "y"), time=t.replace(":00Z", ":30Z")) | {"job": out[-1]["job"]}
        )
        out.append(make(rid, "COMPLETE", time=t.replace(":00Z", ":45Z"), inputs=[], outputs=outputs))
        out.append(event("OTHER", rid, ("x", "y"), time=t.replace(":00Z", ":50Z")) | {"job": out[-1]["job"]})
        out.append(out[rng.randrange(len(out))])  # a duplicate of something already sent
    return out


def _snapshot(cat: disgorge.Catalog) -> dict[str, Any]:
    """The catalog by natural keys (uids, URIs, names, digests), never by row ids or arrival order."""
    with cat.store.session() as s:
        runs = {r.id: r.uid for r in s.scalars(select(Run))}
        arts = {a.id: (a.kind, a.name, a.sha256) for a in s.scalars(select(Artifact))}
        dsets = {d.id: (d.name, d.version, d.digest) for d in s.scalars(select(Dataset))}
        nodes = {"run": runs, "artifact": arts, "dataset": dsets}
        return {
            "runs": sorted(
                (r.uid, r.name, r.use, r.party, r.status, str(r.started_at), str(r.ended_at))
                for r in s.scalars(select(Run))
            ),
            "captured": sorted(
                (runs[c.run_id], c.source, c.producer, c.job_name, c.parent_uid, c.events)
                for c in s.scalars(select(CapturedRunRow))
            ),
            "io": sorted(
                (
                    runs[i.run_id],
                    i.direction,
                    i.uri,
                    i.node_kind,
                    i.how,
                    str(nodes.get(i.node_kind or "", {}).get(i.node_id or 0))
                    if i.node_kind != "run"
                    else i.node_kind,
                )
                for i in s.scalars(select(CapturedIO))
            ),
            "artifacts": sorted(
                (a.kind, a.name, a.sha256, runs.get(a.run_id or 0)) for a in s.scalars(select(Artifact))
            ),
            "copies": sorted((c.uri, arts[c.artifact_id]) for c in s.scalars(select(ArtifactCopy))),
            "datasets": sorted(dsets.values()),
            "edges": sorted(
                (
                    e.src_kind,
                    str(nodes[e.src_kind][e.src_id]),
                    e.dst_kind,
                    str(nodes[e.dst_kind][e.dst_id]),
                    e.relation,
                )
                for e in s.scalars(select(Edge).where(Edge.src_kind != "asset"))
            ),
        }


def _catalog(root: Path, photos: Path) -> disgorge.Catalog:
    c = disgorge.open(root)
    c.add_source("site", notice=b"ops", uses=["essential.service"], categories=["user.content.self_image"])
    c.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    c.create_dataset("faces", source="site")
    return c


def test_shuffled_replay_gives_the_ordered_catalog(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for k in range(10):
        write_photo(photos / f"s{k % 5}" / f"p{k}.jpg", f"s{k % 5}", k)
    events = _events(photos.resolve())
    assert len(events) == 10_000
    shuffled = events[:]
    random.Random(42).shuffle(shuffled)
    snaps = []
    legs = (("ordered", events, 1000), ("shuffled", shuffled, 500), ("one at a time", shuffled[::-1], 1))
    for name, order, batch in legs:
        with _catalog(tmp_path / name.replace(" ", "-"), photos) as c:
            started = time.perf_counter()
            results = []
            for i in range(0, len(order), batch):
                if batch > 1:
                    results += ingest_batch(c.store, c.principal, order[i : i + batch])
                    continue
                results.append(accept_event(c.store, c.principal, order[i]))  # as the server takes one
                if i % 1500 == 1499:
                    fold_pending(c.store, limit=700)
            fold_pending(c.store)
            elapsed = time.perf_counter() - started
            assert {r.status for r in results} <= {"stored", "duplicate"}, name
            assert sum(r.status == "duplicate" for r in results) == RUNS
            snaps.append(_snapshot(c))
            print(f"{name}: {len(order)} events in {elapsed:.1f}s")
    ordered, *replayed = snaps
    for snap in replayed:
        for key in ordered:
            assert snap[key] == ordered[key], key
    assert len(ordered["runs"]) == RUNS
    unknown = [io for io in ordered["io"] if io[1] == "input" and io[3] is None]
    assert len(unknown) == len({f"c{c}" for c in range(RUNS // 4) if c % 3 == 0})
    assert sum(1 for a in ordered["artifacts"] if a[0] == "model") == RUNS // 2
