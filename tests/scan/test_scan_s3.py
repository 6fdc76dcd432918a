"""Scanning an S3 prefix (a real SeaweedFS) finds a re-encoded copy hidden under an opaque key."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

import disgorge
from disgorge.ingest import IngestOptions
from tests.storage.seaweed import Seaweed


def test_scan_s3_prefix(tmp_path: Path, photos: Path, seaweed: Seaweed) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cfg = seaweed.config()
    (home / "storage.json").write_text(
        json.dumps(
            {
                "roots": [],
                "s3": {
                    "endpoint_url": cfg.endpoint_url,
                    "access_key_id": cfg.access_key_id,
                    "secret_access_key": cfg.secret_access_key,
                    "weed_master": cfg.weed_master,
                },
            }
        )
    )
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
