"""S3 prefixes ingested and scanned on Ray and on the local pool, against a real SeaweedFS: the same
answers as the local scan, ETags and version ids kept, resumable after a worker or the driver dies."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

import disgorge
from disgorge.catalog.engine_jobs import EngineJobs
from disgorge.catalog.schema import Copy
from disgorge.engines import EngineOptions, ingest_s3, scan_s3
from disgorge.errors import StoreError, UsageError
from disgorge.ingest import IngestOptions
from disgorge.scan.guard import Guard
from tests.conftest import use_s3
from tests.engines.conftest import bucket_name, upload_photos
from tests.storage.seaweed import Seaweed

OPTS = IngestOptions(source="site", subject_from="parent-dir", allow_non_images=True)


def _home(tmp_path: Path, sw: Seaweed, name: str = "home") -> disgorge.Catalog:
    home = tmp_path / name
    home.mkdir()
    use_s3(home, sw)
    cat = disgorge.open(home)
    cat.add_source("site", notice=b"n", uses=["essential.service"], categories=["user.content.self_image"])
    return cat


def _ingest(cat: disgorge.Catalog, root: str, eng: EngineOptions, opts: IngestOptions = OPTS) -> Any:
    guard = Guard(cat.store, cat.indexes)
    try:
        return ingest_s3(cat.store, cat.indexes, root, opts, guard, cat.storage_config.s3, eng)
    finally:
        guard.close()


def _copies(cat: disgorge.Catalog) -> dict[str, tuple[str | None, str | None]]:
    with cat.store.session() as s:
        return {u: (e, v) for u, e, v in s.execute(select(Copy.uri, Copy.etag, Copy.version_id))}


def test_ray_ingest_equals_local_pool_and_keeps_etags_and_versions(
    tmp_path: Path, seaweed: Seaweed, ray_local: Any
) -> None:
    bucket = bucket_name()
    objects = upload_photos(seaweed, bucket, "site/", 3, 4, versioned=True)
    root = f"s3://{bucket}/site/"
    with _home(tmp_path, seaweed, "ray") as on_ray, _home(tmp_path, seaweed, "pool") as on_pool:
        a = _ingest(on_ray, root, EngineOptions("ray", 2, batch=5))
        b = _ingest(on_pool, root, EngineOptions("local", 2, batch=5))
        assert a.engine["engine"] == "ray" and b.engine["engine"] == "local"
        assert a.scanned == b.scanned == len(objects)
        assert a.new_assets == b.new_assets == len(objects) and not a.problems
        assert a.bytes_read == sum(map(len, objects.values()))
        copies = _copies(on_ray)
        assert copies == _copies(on_pool)
        assert set(copies) == {f"s3://{bucket}/{k}" for k in objects}
        head = seaweed.client().head_object(Bucket=bucket, Key="site/s001/p2.jpg")
        assert copies[f"s3://{bucket}/site/s001/p2.jpg"] == (head["ETag"].strip('"'), head["VersionId"])
        mine = on_ray.store.asset(on_ray.store.resolve_asset(_sha(objects["site/s002/p0.jpg"])))
        theirs = on_pool.store.asset(on_pool.store.resolve_asset(_sha(objects["site/s002/p0.jpg"])))
        assert mine.pdq == theirs.pdq is not None


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _near_copy(data: bytes) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        buf, "JPEG", quality=60
    )
    return buf.getvalue()


def test_ray_scan_equals_local_scan(tmp_path: Path, seaweed: Seaweed, ray_local: Any) -> None:
    """The near-duplicate join on Ray's workers finds what the local scan finds: a mirrored, re-encoded
    copy under an opaque key, an exact copy, and an old version hidden behind an overwrite."""
    bucket = bucket_name()
    objects = upload_photos(seaweed, bucket, "site/", 2, 3)
    backups = bucket_name()
    client = seaweed.client()
    client.create_bucket(Bucket=backups)
    client.put_bucket_versioning(Bucket=backups, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=backups, Key="b/7c1e", Body=_near_copy(objects["site/s001/p1.jpg"]))
    client.put_object(Bucket=backups, Key="b/9a2f", Body=objects["site/s000/p2.jpg"])
    client.put_object(Bucket=backups, Key="b/aa00", Body=objects["site/s001/p0.jpg"])
    client.put_object(Bucket=backups, Key="b/aa00", Body=b"overwritten")
    with _home(tmp_path, seaweed) as cat:
        _ingest(cat, f"s3://{bucket}/site/", EngineOptions("local", 1))
        local = cat.scan([f"s3://{backups}/b/"], workers=1)
        on_ray = scan_s3(
            cat.store,
            cat.indexes,
            f"s3://{backups}/b/",
            against="catalog",
            radius=31,
            s3=cat.storage_config.s3,
            eng=EngineOptions("ray", 2, batch=2),
        )
    assert on_ray.scanned == local.scanned == 4

    def by_object(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(matches, key=lambda m: (m["object"], m["match"]))

    assert by_object(on_ray.matches) == by_object(local.matches)
    found = {(m["object"].split("?")[0], m["match"]) for m in on_ray.matches}
    assert found == {
        (f"s3://{backups}/b/7c1e", "near"),
        (f"s3://{backups}/b/9a2f", "exact"),
        (f"s3://{backups}/b/aa00", "exact"),  # the noncurrent version still holds the photo
    }
    assert next(m for m in on_ray.matches if "7c1e" in m["object"])["via"].startswith("flip")


class DriverDied(Exception):
    pass


@pytest.mark.parametrize("engine", ["ray", "local"])
def test_resume_after_the_driver_dies_skips_finished_batches(
    tmp_path: Path, seaweed: Seaweed, ray_local: Any, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    bucket = bucket_name()
    objects = upload_photos(seaweed, bucket, "p/", 5, 4)  # 21 objects: 6 batches of 4 (one of 1)
    root = f"s3://{bucket}/p/"
    real = EngineJobs.record
    calls = {"n": 0}

    def dies_after_two(self: EngineJobs, *args: Any) -> None:
        if calls["n"] == 2:
            raise DriverDied("the driver was killed")
        calls["n"] += 1
        real(self, *args)

    with _home(tmp_path, seaweed) as cat:
        monkeypatch.setattr(EngineJobs, "record", dies_after_two)
        with pytest.raises(DriverDied):
            _ingest(cat, root, EngineOptions(engine, 2, batch=4))
        monkeypatch.setattr(EngineJobs, "record", real)
        summary = _ingest(cat, root, EngineOptions(engine, 2, batch=4))
        assert summary.engine["resumed"] and summary.engine["batches_skipped"] == 2
        assert summary.engine["objects_hashed"] == len(objects) - 8
        # the report is the whole job's, as a run without the failure gives
        assert summary.scanned == len(objects)
        assert summary.new_assets + summary.unchanged == len(objects) and not summary.problems
        assert len(_copies(cat)) == len(objects)
        again = _ingest(cat, root, EngineOptions(engine, 2, batch=4))  # finished: a new job, all again
        assert not again.engine["resumed"] and again.unchanged == len(objects)


def test_a_changed_batch_is_hashed_again_on_resume(
    tmp_path: Path, seaweed: Seaweed, ray_local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object overwritten (or added) inside a finished batch's range while the job was down: that
    batch's results are stale, so it is done again; the others are still skipped."""
    bucket = bucket_name()
    objects = upload_photos(seaweed, bucket, "p/", 2, 4)  # 9 objects
    root = f"s3://{bucket}/p/"
    real = EngineJobs.record
    calls = {"n": 0}

    def dies_after_two(self: EngineJobs, *args: Any) -> None:
        if calls["n"] == 2:
            raise DriverDied("killed")
        calls["n"] += 1
        real(self, *args)

    with _home(tmp_path, seaweed) as cat:
        monkeypatch.setattr(EngineJobs, "record", dies_after_two)
        with pytest.raises(DriverDied):
            scan_s3(
                cat.store,
                cat.indexes,
                root,
                against="catalog",
                radius=31,
                s3=cat.storage_config.s3,
                eng=EngineOptions("ray", 1, batch=3),
            )
        monkeypatch.setattr(EngineJobs, "record", real)
        seaweed.client().put_object(Bucket=bucket, Key="p/s000/p1.jpg", Body=b"new bytes")
        report = scan_s3(
            cat.store,
            cat.indexes,
            root,
            against="catalog",
            radius=31,
            s3=cat.storage_config.s3,
            eng=EngineOptions("ray", 1, batch=3),
        )
    assert report.engine["resumed"] and report.engine["batches_redone"] == 1
    assert report.engine["batches_skipped"] == 1
    assert report.scanned == len(objects)


@pytest.mark.parametrize("engine", ["ray", "local"])
def test_a_worker_that_dies_costs_only_its_batch(
    tmp_path: Path, seaweed: Seaweed, ray_local: Any, engine: str
) -> None:
    bucket = bucket_name()
    objects = upload_photos(seaweed, bucket, "p/", 3, 3)
    marker = tmp_path / "died"
    with _home(tmp_path, seaweed) as cat:
        summary = _ingest(cat, f"s3://{bucket}/p/", EngineOptions(engine, 2, batch=3, die_once=str(marker)))
        assert marker.exists()  # a worker really died mid-batch
        assert summary.new_assets == len(objects) and not summary.problems
        assert len(_copies(cat)) == len(objects)


def test_bad_objects_are_reported_not_fatal(tmp_path: Path, seaweed: Seaweed, ray_local: Any) -> None:
    bucket = bucket_name()
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    objects = upload_photos(seaweed, bucket + "-x", "p/", 1, 2)
    for k, v in objects.items():
        client.put_object(Bucket=bucket, Key=k, Body=v)
    client.put_object(Bucket=bucket, Key="p/s000/broken.jpg", Body=objects["p/s000/p0.jpg"][:300])
    client.put_object(Bucket=bucket, Key="toplevel.jpg", Body=objects["p/s000/p1.jpg"])
    with _home(tmp_path, seaweed) as cat:
        summary = _ingest(
            cat,
            f"s3://{bucket}/",
            EngineOptions("ray", 2),
            IngestOptions(source="site", subject_from="parent-dir"),
        )
    codes = {p.path.rsplit("/", 1)[-1]: p.code for p in summary.problems}
    assert codes == {
        "broken.jpg": "corrupt_image",
        "readme.txt": "not_an_image",
        "toplevel.jpg": "no_subject",
    }
    assert summary.new_assets == 2


def test_missing_ray_is_a_usage_error(
    tmp_path: Path, seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if disgorge[ray] were not installed
    with _home(tmp_path, seaweed) as cat, pytest.raises(UsageError, match="needs Ray") as err:
        cat.scan(["s3://nobucket/x/"], engine="ray")
    assert err.value.exit_status == 2 and "pip install 'disgorge[ray]'" in str(err.value.hint)


def test_a_missing_bucket_is_an_input_error(tmp_path: Path, seaweed: Seaweed) -> None:
    with _home(tmp_path, seaweed) as cat, pytest.raises(Exception, match="does not exist") as err:
        _ingest(cat, f"s3://{bucket_name()}/x/", EngineOptions("local", 1))
    assert not isinstance(err.value, StoreError)  # a missing bucket is the user's input, exit 2
