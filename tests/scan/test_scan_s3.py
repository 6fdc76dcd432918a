"""Scanning an S3 prefix (a real SeaweedFS) finds a re-encoded copy hidden under an opaque key."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

import disgorge
from disgorge.ingest import IngestOptions
from tests.conftest import use_s3
from tests.storage.seaweed import Seaweed


def test_scan_s3_prefix(tmp_path: Path, photos: Path, seaweed: Seaweed) -> None:
    home = tmp_path / "home"
    home.mkdir()
    use_s3(home, seaweed)
    client = seaweed.client()
    client.create_bucket(Bucket="scan-backups")
    buf = io.BytesIO()
    Image.open(photos / "bob" / "p1.jpg").convert("RGB").save(buf, "JPEG", quality=55)
    client.put_object(Bucket="scan-backups", Key="b/7c1e", Body=buf.getvalue())
    client.put_object(Bucket="scan-backups", Key="b/readme", Body=b"not an image")
    with disgorge.open(home) as cat:
        cat.add_source("site", notice=b"n", uses=["essential.service"])
        cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        report = cat.scan(["s3://scan-backups/b/"])
    assert report.scanned == 2
    assert [(m["object"], m["match"]) for m in report.matches] == [("s3://scan-backups/b/7c1e", "near")]
