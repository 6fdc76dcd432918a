"""The S3 backend against a real SeaweedFS: versions, re-checks, races, and bytes gone from the volumes."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from disgorge.errors import InputError, StoreError
from disgorge.storage import Identity, S3Config, StorageConfig, backend_for
from disgorge.storage.s3 import S3Storage, parse_s3_uri
from disgorge.storage.seaweedfs import vacuum, volume_garbage
from tests.storage.seaweed import Seaweed


@pytest.fixture
def s3(seaweed: Seaweed) -> Iterator[S3Storage]:
    with S3Storage(seaweed.config()) as backend:
        yield backend


@pytest.fixture
def bucket(seaweed: Seaweed) -> Callable[..., str]:
    def make(*, versioned: bool = False) -> str:
        name = f"t{uuid.uuid4().hex[:16]}"
        client = seaweed.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    return make


def _put(seaweed: Seaweed, bucket: str, data: bytes, key: str | None = None) -> str:
    """Store ``data`` under an opaque key (its sha256, as the catalog would) and return the URI."""
    key = key or hashlib.sha256(data).hexdigest()
    seaweed.client().put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def _planned(s3: S3Storage, uri: str, data: bytes) -> Identity:
    info = s3.stat(uri)
    assert info is not None
    return info.identity(hashlib.sha256(data).hexdigest())


def test_unversioned_delete_rechecks_and_is_idempotent(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    data = os.urandom(3000)
    uri = _put(seaweed, bucket(), data)
    want = _planned(s3, uri, data)
    assert want.etag == hashlib.md5(data).hexdigest() and want.size == 3000
    assert s3.check(uri, want, rehash=True) == (True, "matches plan (size, etag, sha256)")
    with s3.open(uri) as body:
        assert body.read() == data
    ev = s3.delete(uri, want)
    assert (ev.outcome, ev.versions_deleted) == ("deleted", 1)
    assert s3.stat(uri) is None and not s3.exists(uri)
    assert s3.delete(uri, want).outcome == "already_gone"


def test_overwritten_after_planning_is_skipped(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    b = bucket()
    uri = _put(seaweed, b, b"planned bytes", key="k0")
    want = _planned(s3, uri, b"planned bytes")
    _put(seaweed, b, b"PLANNED BYTES", key="k0")  # same size, other bytes
    ev = s3.delete(uri, want)
    assert ev.outcome == "skipped_changed" and "etag" in ev.detail
    with s3.open(uri) as body:
        assert body.read() == b"PLANNED BYTES"


def test_overwrite_between_check_and_delete_fails_the_conditional_delete(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = bucket()
    uri = _put(seaweed, b, b"planned bytes", key="k1")
    want = _planned(s3, uri, b"planned bytes")
    stale = s3.versions(uri)
    _put(seaweed, b, b"written later", key="k1")
    monkeypatch.setattr(s3, "versions", lambda u: stale)  # the listing raced the overwrite
    ev = s3.delete(uri, want)
    assert (ev.outcome, ev.detail) == ("skipped_changed", "overwritten while being deleted")
    with s3.open(uri) as body:
        assert body.read() == b"written later"


def test_versioned_key_loses_every_version_of_the_content_and_its_markers(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    b = bucket(versioned=True)
    data = os.urandom(2048)
    key = hashlib.sha256(data).hexdigest()
    client = seaweed.client()
    uri = _put(seaweed, b, data)
    client.delete_object(Bucket=b, Key=key)  # a plain DELETE only adds a marker: bytes stay readable
    _put(seaweed, b, data)
    want = _planned(s3, uri, data)
    listed = client.list_object_versions(Bucket=b, Prefix=key)
    assert len(listed["Versions"]) == 2 and len(listed["DeleteMarkers"]) == 1
    ev = s3.delete(uri, want, rehash=True)
    assert (ev.outcome, ev.versions_deleted) == ("deleted", 2) and "1 delete marker(s) removed" in ev.detail
    listed = client.list_object_versions(Bucket=b, Prefix=key)
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")
    assert s3.delete(uri, want).outcome == "already_gone"


def test_versioned_key_keeps_other_content(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    b = bucket(versioned=True)
    _put(seaweed, b, b"earlier, unrelated content", key="k")
    uri = _put(seaweed, b, b"the erased content", key="k")
    objects = list(s3.iter_objects(f"s3://{b}/"))
    assert [o.uri.split("?")[0] for o in objects] == [uri, uri]
    old = next(o for o in objects if "?versionId=" in o.uri)
    with s3.open(old.uri) as body:
        assert body.read() == b"earlier, unrelated content"
    ev = s3.delete(uri, _planned(s3, uri, b"the erased content"))
    assert (ev.outcome, ev.versions_deleted) == ("deleted", 1) and "other content kept" in ev.detail
    with s3.open(uri) as body:
        assert body.read() == b"earlier, unrelated content"


def test_sha256_only_identity_streams_the_bytes(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    b = bucket()
    uri = _put(seaweed, b, b"abc" * 1000)
    wrong = Identity(3000, sha256=hashlib.sha256(b"xyz" * 1000).hexdigest())
    assert s3.delete(uri, wrong).outcome == "skipped_changed"
    assert s3.delete(uri, Identity(3000)).outcome == "refused"
    right = Identity(3000, sha256=hashlib.sha256(b"abc" * 1000).hexdigest())
    assert s3.delete(uri, right).outcome == "deleted"


def test_bytes_leave_the_volume_files_only_after_a_vacuum(
    seaweed: Seaweed, s3: S3Storage, bucket: Callable[..., str]
) -> None:
    b = bucket(versioned=True)
    first, second = os.urandom(40_000), os.urandom(40_000)
    key = hashlib.sha256(first).hexdigest()
    uri = _put(seaweed, b, first, key=key)
    _put(seaweed, b, first, key=key)
    planned = _planned(s3, uri, first)
    kept = _put(seaweed, b, second)
    assert first in seaweed.volume_bytes()
    assert s3.delete(uri, planned).versions_deleted == 2
    volumes = seaweed.volume_bytes()
    assert first in volumes, "SeaweedFS now drops bytes on delete: the vacuum step may be unnecessary"
    done = s3.compact(bucket=b)
    assert done.garbage_before >= 80_000 and done.garbage_after == 0
    volumes = seaweed.volume_bytes()
    assert first not in volumes, done.output
    assert second in volumes and volume_garbage(seaweed.master, b) == 0
    with s3.open(kept) as body:
        assert body.read() == second


def test_through_the_registry(seaweed: Seaweed, bucket: Callable[..., str]) -> None:
    uri = _put(seaweed, bucket(), b"via registry")
    with StorageConfig(s3=seaweed.config()) as cfg:
        backend = backend_for(uri, cfg)
        info = backend.stat(uri)
        assert info is not None
        assert backend.delete(uri, info.identity()).outcome == "deleted"


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://Bad_Bucket/k", "not a valid bucket name"),
        ("s3://bucket", "names a bucket, not an object"),
        ("s3://bucket/a\0", "NUL"),
    ],
)
def test_bad_uris(s3: S3Storage, uri: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_s3_uri(uri)
    ev = s3.delete(uri, Identity(1, etag="x"))
    assert ev.outcome == "refused" and why in ev.detail


def test_unreachable_endpoint_is_a_store_error() -> None:
    dead = S3Storage(
        S3Config(
            endpoint_url="http://127.0.0.1:9", access_key_id="a", secret_access_key="b", connect_timeout=0.5
        )
    )
    with pytest.raises(StoreError, match="S3 HEAD s3://bucket/key failed"):
        dead.stat("s3://bucket/key")


def test_vacuum_validates_its_arguments() -> None:
    with pytest.raises(InputError, match="is not host:port"):
        vacuum("localhost; rm -rf /")
    with pytest.raises(InputError, match="not a valid bucket"):
        vacuum("127.0.0.1:9333", collection="x; volume.delete")
    with pytest.raises(InputError, match="no SeaweedFS master configured"):
        S3Storage(S3Config()).compact()
