"""A Delta table in a versioned SeaweedFS bucket: erased rows leave every version, object and volume."""

from __future__ import annotations

import hashlib
import uuid

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from disgorge.storage import Identity, StorageConfig, backend_for
from disgorge.storage.delta import DeltaStorage, s3_storage_options
from disgorge.storage.s3 import S3Storage
from tests.storage.seaweed import Seaweed

ERASED = "0" + hashlib.sha256(b"erased subject").hexdigest()[1:]  # a column minimum: in the log's stats
KEPT = [hashlib.sha256(b"kept %d" % i).hexdigest() for i in range(3)]


def test_table_in_a_versioned_bucket(seaweed: Seaweed) -> None:
    bucket = f"lake{uuid.uuid4().hex[:12]}"
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    cfg = seaweed.config()
    opts = s3_storage_options(cfg)
    table = f"s3://{bucket}/tables/photos"
    rows = {"subject_key": [ERASED, KEPT[0]], "n": [1, 2]}
    write_deltalake(
        table, pa.table(rows), storage_options=opts, configuration={"delta.enableChangeDataFeed": "true"}
    )
    write_deltalake(
        table, pa.table({"subject_key": KEPT[1:], "n": [3, 4]}), storage_options=opts, mode="append"
    )
    DeltaTable(table, storage_options=opts).update(predicate="n = 1", updates={"n": "10"})
    assert ERASED.encode() in seaweed.volume_bytes()

    with StorageConfig(s3=cfg) as config:
        backend = backend_for(f"delta+s3://{bucket}/tables/photos", config)
        assert isinstance(backend, DeltaStorage)
        before = backend.verify_rows_gone(table, "subject_key", [ERASED])
        assert "version 2: 1 erased row(s) still readable" in before
        assert any("_change_data" in p for p in before)
        uri = f"delta+s3://{bucket}/tables/photos#subject_key={ERASED}"
        ev = backend.delete(uri, Identity(0))
        assert (ev.outcome, ev.versions_deleted) == ("deleted", 1)
        assert backend.verify_rows_gone(table, "subject_key", [ERASED]) == []
        listed = client.list_object_versions(Bucket=bucket, Prefix="tables/")
        assert all(v["IsLatest"] for v in listed.get("Versions", [])) and not listed.get("DeleteMarkers")
        assert sorted(
            DeltaTable(table, storage_options=opts).to_pyarrow_table()["subject_key"].to_pylist()
        ) == sorted(KEPT)
        files = [o.uri for o in backend.iter_objects(table)]
        assert any(u.endswith(".checkpoint.parquet") for u in files)
        with backend.open(files[0]) as body:
            assert body.read()
    # the purge deleted through its own client: compaction waits for the deletions to settle
    with S3Storage(cfg) as fresh:
        out = fresh.compact(bucket=bucket)
    assert out.garbage_after == 0
    assert ERASED.encode() not in seaweed.volume_bytes()
