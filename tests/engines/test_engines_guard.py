"""On Ray, erased content still cannot come back in: the near-duplicate join of each object's dihedral
forms and crops against the erased index runs on the workers, and decides as the local guard does."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

import disgorge
from disgorge.ingest import IngestOptions
from tests.conftest import PEOPLE, use_s3
from tests.engines.conftest import bucket_name
from tests.scan.test_guard import world  # noqa: F401  (fixture: a home where mallory's photo was erased)
from tests.storage.seaweed import Seaweed

T = Image.Transpose


def _jpeg(im: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_ray_ingest_refuses_erased_content_and_its_near_copies(
    world: tuple[Path, str, Path],  # noqa: F811
    seaweed: Seaweed,
    ray_local: Any,
) -> None:
    cwd, plan, original = world
    use_s3(cwd / "home", seaweed)
    im = Image.open(original)
    bucket = bucket_name()
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    copies = {
        "exact": original.read_bytes(),
        "mirrored": _jpeg(im.transpose(T.FLIP_LEFT_RIGHT)),
        "rotated90": _jpeg(im.transpose(T.ROTATE_90)),
        "reencoded": _jpeg(im, 60),
    }
    for name, data in copies.items():
        client.put_object(Bucket=bucket, Key=f"up/mallory/{name}.jpg", Body=data)
    root = f"s3://{bucket}/up/"
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        opts = IngestOptions(source="site", subject_from="parent-dir", engine="ray", workers=2)
        summary = cat.ingest(root, opts)
        codes = {p.path.rsplit("/", 1)[1]: p.code for p in summary.problems}
        assert codes == {
            "exact.jpg": "erased_content",
            "mirrored.jpg": "near_erased_content",
            "rotated90.jpg": "near_erased_content",
            "reencoded.jpg": "near_erased_content",
        }
        assert summary.new_assets == 0
        assert all(plan[:12] in p.reason for p in summary.problems)
        local = cat.scan([root], against="erased", engine="local", workers=1)
        on_ray = cat.scan([root], against="erased", engine="ray", workers=2)
        assert sorted(m["object"] for m in on_ray.matches) == sorted(m["object"] for m in local.matches)
        assert len(on_ray.matches) == 4 and {m["erased_by_plan"] for m in on_ray.matches} == {plan}
        flagged = cat.ingest(
            root,
            IngestOptions(source="site", subject_from="parent-dir", engine="ray", allow_near_erased=True),
        )
        assert flagged.new_assets == 3 and len(flagged.flags) == 3
        assert [p.code for p in flagged.problems] == ["erased_content"]
