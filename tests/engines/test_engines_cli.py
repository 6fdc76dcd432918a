"""``disgorge ingest|scan s3://... --engine ray`` as a person types it: from a working directory, with
a relative home, output piped."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.as_a_person import dg, new_home
from tests.conftest import use_s3
from tests.engines.conftest import bucket_name, upload_photos
from tests.storage.seaweed import Seaweed


def test_ingest_then_scan_on_ray(tmp_path: Path, seaweed: Seaweed, ray_local: Any) -> None:
    new_home(tmp_path)
    use_s3(tmp_path / "home", seaweed)
    bucket, backups = bucket_name(), bucket_name()
    objects = upload_photos(seaweed, bucket, "site/", 2, 3)
    got = dg(
        tmp_path,
        "ingest",
        f"s3://{bucket}/site/",
        "--source",
        "site",
        "--subject-from",
        "parent-dir",
        "--engine",
        "ray",
        "--json",
    )
    assert got.returncode == 2, got.stderr  # the readme is not an image: refused, named, exit 2
    summary = json.loads(got.stdout)
    assert summary["new_assets"] == len(objects) - 1 and summary["engine"]["engine"] == "ray"
    assert [p["code"] for p in summary["problems"]] == ["not_an_image"]

    client = seaweed.client()
    client.create_bucket(Bucket=backups)
    buf = io.BytesIO()
    Image.open(io.BytesIO(objects["site/s001/p1.jpg"])).convert("RGB").rotate(90, expand=True).save(
        buf, "JPEG"
    )
    client.put_object(Bucket=backups, Key="x/0001", Body=buf.getvalue())
    scan = dg(tmp_path, "scan", f"s3://{backups}/x/", "--engine", "ray", "--workers", "2")
    assert scan.returncode == 0, scan.stderr
    assert "scanned 1 objects" in scan.stdout and "near" in scan.stdout and "x/0001" in scan.stdout


def test_engine_errors_say_what_to_do(
    tmp_path: Path, seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_home(tmp_path)
    use_s3(tmp_path / "home", seaweed)
    (tmp_path / "photos").mkdir()
    local = dg(tmp_path, "scan", "photos", "--engine", "ray")
    assert local.returncode == 2 and "s3://" in local.stderr
    odd = dg(tmp_path, "ingest", "s3://b/p/", "--source", "site", "--no-subject", "--engine", "spark")
    assert odd.returncode == 2 and "--engine 'spark' is unknown" in odd.stderr
    monkeypatch.setitem(sys.modules, "ray", None)  # as if disgorge[ray] were not installed
    missing = dg(tmp_path, "scan", "s3://some-bucket/x/", "--engine", "ray")
    assert missing.returncode == 2
    assert "needs Ray" in missing.stderr and "pip install 'disgorge[ray]'" in missing.stderr
