"""Engine fixtures: a real SeaweedFS (``seaweed``) and one local Ray for the whole session (2 CPUs),
started once because a Ray start costs seconds."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from disgorge.demo.corpus import face_image, hash_seed
from tests.storage.seaweed import Seaweed, seaweed  # noqa: F401  (session fixture)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="pip install 'disgorge[ray]'")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def upload_photos(
    sw: Seaweed, bucket: str, prefix: str, subjects: int, each: int, *, versioned: bool = False
) -> dict[str, bytes]:
    """``subjects`` folders of ``each`` real JPEGs under ``s3://bucket/prefix/SUBJECT/``, plus one
    object that is not an image; returns key -> bytes."""
    client = sw.client()
    client.create_bucket(Bucket=bucket)
    if versioned:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    out: dict[str, bytes] = {}
    for s in range(subjects):
        for k in range(each):
            buf = io.BytesIO()
            face_image(hash_seed(f"s{s}"), s * 100 + k, (96, 72)).save(buf, "JPEG", quality=90)
            key = f"{prefix}s{s:03d}/p{k}.jpg"
            out[key] = buf.getvalue()
            client.put_object(Bucket=bucket, Key=key, Body=out[key])
    client.put_object(Bucket=bucket, Key=f"{prefix}s000/readme.txt", Body=b"not an image")
    out[f"{prefix}s000/readme.txt"] = b"not an image"
    return out


def bucket_name() -> str:
    return f"eng-{uuid.uuid4().hex[:10]}"
