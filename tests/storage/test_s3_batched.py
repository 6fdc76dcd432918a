"""Batched S3 erasure (``S3Storage.delete_many``) against a real SeaweedFS: the same decisions as one
delete per key, with no object read back when the plan recorded an ETag and version id."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from disgorge.errors import StoreError
from disgorge.storage import Identity
from disgorge.storage.s3 import S3Storage
from tests.storage.seaweed import Seaweed


@pytest.fixture
def s3(seaweed: Seaweed) -> Iterator[S3Storage]:
    with S3Storage(seaweed.config()) as backend:
        yield backend


def _bucket(seaweed: Seaweed, *, versioned: bool) -> str:
    name = f"t{uuid.uuid4().hex[:16]}"
    client = seaweed.client()
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _registered(seaweed: Seaweed, bucket: str, key: str, data: bytes) -> Identity:
    """Put an object and record what ingest records of it: size, sha256, ETag, version id."""
    got = seaweed.client().put_object(Bucket=bucket, Key=key, Body=data)
    vid = got.get("VersionId")
    return Identity(
        len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        etag=got["ETag"].strip('"'),
        version_ids=(vid,) if vid and vid != "null" else (),
    )


def _count_gets(s3: S3Storage) -> dict[str, int]:
    calls = {"GetObject": 0, "DeleteObjects": 0, "DeleteObject": 0}

    def seen(model: Any, **_: Any) -> None:
        if model.name in calls:
            calls[model.name] += 1

    s3.client.meta.events.register("before-call.s3", lambda model, **kw: seen(model))
    return calls


def test_batched_versioned_delete_decides_as_one_by_one_and_reads_nothing(
    seaweed: Seaweed, s3: S3Storage
) -> None:
    b = _bucket(seaweed, versioned=True)
    client = seaweed.client()
    planned: dict[str, Identity] = {}
    for k in range(40):
        planned[f"p/{k:03d}"] = _registered(seaweed, b, f"p/{k:03d}", os.urandom(300 + k))
    client.put_object(Bucket=b, Key="p/005", Body=b"written after planning")  # changed: kept whole
    client.delete_object(Bucket=b, Key="p/006", VersionId=planned["p/006"].version_ids[0])  # gone already
    client.put_object(Bucket=b, Key="unrelated", Body=b"not in the plan")
    calls = _count_gets(s3)
    evidence = list(s3.delete_many(((f"s3://{b}/{k}", i) for k, i in planned.items())))
    assert [e.uri for e in evidence] == [f"s3://{b}/{k}" for k in planned]  # in the targets' order
    outcomes = {e.uri.rsplit("/", 1)[1]: e.outcome for e in evidence}
    assert outcomes.pop("005") == "skipped_changed" and outcomes.pop("006") == "already_gone"
    assert set(outcomes.values()) == {"deleted"}
    assert calls["GetObject"] == 0 and calls["DeleteObject"] == 0 and calls["DeleteObjects"] == 1
    left = client.list_object_versions(Bucket=b)
    assert sorted(v["Key"] for v in left.get("Versions", [])) == ["p/005", "p/005", "unrelated"]
    assert not left.get("DeleteMarkers")
    again = list(s3.delete_many(((f"s3://{b}/{k}", i) for k, i in planned.items())))
    assert {e.outcome for e in again} == {"already_gone", "skipped_changed"}


def test_every_version_of_the_content_goes_and_other_content_stays(seaweed: Seaweed, s3: S3Storage) -> None:
    b = _bucket(seaweed, versioned=True)
    client = seaweed.client()
    client.put_object(Bucket=b, Key="k", Body=b"earlier, unrelated content")
    ident = _registered(seaweed, b, "k", b"the erased content")
    client.put_object(Bucket=b, Key="dup", Body=b"x" * 64)
    client.delete_object(Bucket=b, Key="dup")  # a marker over the first upload
    dup = _registered(seaweed, b, "dup", b"x" * 64)  # the same bytes again: both versions hold them
    [ev_k, ev_dup] = s3.delete_many([(f"s3://{b}/k", ident), (f"s3://{b}/dup", dup)])
    assert (ev_k.outcome, ev_k.versions_deleted) == ("deleted", 1) and "other content kept" in ev_k.detail
    assert (ev_dup.outcome, ev_dup.versions_deleted) == ("deleted", 2)
    assert "1 delete marker(s) removed" in ev_dup.detail
    assert client.get_object(Bucket=b, Key="k")["Body"].read() == b"earlier, unrelated content"
    left = client.list_object_versions(Bucket=b, Prefix="dup")
    assert not left.get("Versions") and not left.get("DeleteMarkers")


def test_unversioned_keys_keep_the_conditional_delete(seaweed: Seaweed, s3: S3Storage) -> None:
    b = _bucket(seaweed, versioned=False)
    a = _registered(seaweed, b, "a", b"aaa" * 100)
    c = _registered(seaweed, b, "c", b"ccc" * 100)
    seaweed.client().put_object(Bucket=b, Key="c", Body=b"CCC" * 100)  # same size, other bytes
    calls = _count_gets(s3)
    ev = list(s3.delete_many([(f"s3://{b}/a", a), (f"s3://{b}/c", c)]))
    assert [e.outcome for e in ev] == ["deleted", "skipped_changed"]
    assert calls["DeleteObjects"] == 0 and calls["DeleteObject"] == 1 and calls["GetObject"] == 0
    assert seaweed.client().get_object(Bucket=b, Key="c")["Body"].read() == b"CCC" * 100


def test_a_batch_the_store_refuses_fails_loudly(
    seaweed: Seaweed, s3: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = _bucket(seaweed, versioned=True)
    planned = {k: _registered(seaweed, b, k, os.urandom(100)) for k in ("a", "b")}
    real = s3.client.delete_objects

    def refuse_b(**kw: Any) -> Any:  # fault injection: the store answers AccessDenied for one key
        out = real(
            **{
                **kw,
                "Delete": {
                    **kw["Delete"],
                    "Objects": [o for o in kw["Delete"]["Objects"] if o["Key"] != "b"],
                },
            }
        )
        vid = planned["b"].version_ids[0]
        return {**out, "Errors": [{"Key": "b", "VersionId": vid, "Code": "AccessDenied", "Message": "no"}]}

    monkeypatch.setattr(s3.client, "delete_objects", refuse_b)
    stream = s3.delete_many((f"s3://{b}/{k}", i) for k, i in planned.items())
    assert next(stream).outcome == "deleted"
    with pytest.raises(StoreError, match=r"did not delete s3://.*/b: AccessDenied"):
        next(stream)
    assert seaweed.client().get_object(Bucket=b, Key="b")["Body"].read()


def _count_listings(s3: S3Storage) -> list[str]:
    seen: list[str] = []
    s3.client.meta.events.register(
        "before-parameter-build.s3.ListObjectVersions",
        lambda params, **kw: seen.append(params.get("Prefix", "")),
    )
    return seen


def _mixed_plan(seaweed: Seaweed, b: str) -> dict[str, Identity]:
    """30 planned keys among unplanned ones under the same prefix, with a second version of the same
    content, a delete marker, an overwrite and an earlier deletion among them."""
    client = seaweed.client()
    planned: dict[str, Identity] = {}
    for k in range(30):
        client.put_object(Bucket=b, Key=f"p/{k:03d}x", Body=b"unplanned neighbour")
        planned[f"p/{k:03d}"] = _registered(seaweed, b, f"p/{k:03d}", os.urandom(200 + k))
    client.put_object(Bucket=b, Key="p/003", Body=b"written after planning")  # kept whole
    client.delete_object(Bucket=b, Key="p/004", VersionId=planned["p/004"].version_ids[0])  # gone
    same = b"same bytes twice"
    client.put_object(Bucket=b, Key="p/0zz", Body=same)
    client.delete_object(Bucket=b, Key="p/0zz")
    planned["p/0zz"] = _registered(seaweed, b, "p/0zz", same)
    return planned


def _check_mixed(seaweed: Seaweed, b: str, evidence: list[Any]) -> None:
    outcomes = {e.uri.rsplit("/", 1)[1]: e for e in evidence}
    assert outcomes.pop("003").outcome == "skipped_changed"
    assert outcomes.pop("004").outcome == "already_gone"
    dup = outcomes.pop("0zz")
    assert (dup.outcome, dup.versions_deleted) == ("deleted", 2) and "delete marker" in dup.detail
    assert {e.outcome for e in outcomes.values()} == {"deleted"}
    left = seaweed.client().list_object_versions(Bucket=b)
    keys = sorted(v["Key"] for v in left.get("Versions", []))
    assert keys == sorted(["p/003", "p/003", *(f"p/{k:03d}x" for k in range(30))])
    assert not left.get("DeleteMarkers")


def test_many_keys_are_listed_once_by_their_common_prefix(seaweed: Seaweed, s3: S3Storage) -> None:
    b = _bucket(seaweed, versioned=True)
    planned = _mixed_plan(seaweed, b)
    listings = _count_listings(s3)
    evidence = list(s3.delete_many((f"s3://{b}/{k}", i) for k, i in planned.items()))
    assert [e.uri for e in evidence] == [f"s3://{b}/{k}" for k in planned]
    _check_mixed(seaweed, b, evidence)
    assert listings[0] == "p/0" and listings[1:] == ["p/004"]  # one listing; the absent key alone


def test_a_sparse_listing_stops_and_the_rest_are_listed_one_by_one(
    seaweed: Seaweed, s3: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import disgorge.storage.s3 as s3mod

    monkeypatch.setattr(s3mod, "LIST_PAGE", 7)  # small pages, each finding too few wanted keys
    monkeypatch.setattr(s3mod, "LIST_DENSITY", 100)
    b = _bucket(seaweed, versioned=True)
    planned = _mixed_plan(seaweed, b)
    listings = _count_listings(s3)
    evidence = list(s3.delete_many((f"s3://{b}/{k}", i) for k, i in planned.items()))
    _check_mixed(seaweed, b, evidence)
    assert listings[:2] == ["p/0", "p/0"] and len(listings) > 20  # cut short, then one by one
