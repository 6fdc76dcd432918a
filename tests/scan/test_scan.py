"""Residual scans and lookups find re-encoded, resized, mirrored and cropped copies, and nothing else."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import disgorge
from disgorge.errors import InputError
from disgorge.ingest import IngestOptions
from tests.conftest import write_photo


@pytest.fixture
def cat(sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> disgorge.Catalog:
    sqlite_cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    sqlite_cat.create_dataset("faces", source="site")
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    with sqlite_cat.run(
        "t", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False
    ) as r:
        r.log_model(weights, name="facenet")
    return sqlite_cat


def variants(src: Path, out: Path) -> dict[str, Path]:
    im = Image.open(src).convert("RGB")
    w, h = im.size
    made = {
        "reencoded": (im, {"quality": 60}),
        "half": (im.resize((w // 2, h // 2)), {"quality": 80}),
        "mirror": (im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), {"quality": 85}),
        "crop5": (im.crop((w // 20, h // 20, w - w // 20, h - h // 20)), {"quality": 85}),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (img, kw) in made.items():
        paths[name] = out / f"{name}.jpg"
        img.save(paths[name], "JPEG", **kw)
    webp = io.BytesIO()
    im.save(webp, "WEBP", quality=50)
    (out / "webp.webp").write_bytes(webp.getvalue())
    paths["webp"] = out / "webp.webp"
    return paths


def test_scan_finds_exact_and_near_copies_and_nothing_else(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    made = variants(photos / "alice" / "p0.jpg", backup)
    (backup / "same.jpg").write_bytes((photos / "bob" / "p1.jpg").read_bytes())
    write_photo(backup / "stranger.jpg", "zed", 99)
    (backup / "notes.txt").write_text("not an image")
    report = cat.scan([str(backup)])
    by_object = {Path(m["object"]).name: m for m in report.matches}
    assert by_object["same.jpg"]["match"] == "exact"
    for name, path in made.items():
        m = by_object[path.name]
        assert m["match"] == "near" and m["distance"] <= 31, (name, m)
    assert by_object["mirror.jpg"]["via"] != "whole"
    assert "stranger.jpg" not in by_object and "notes.txt" not in by_object
    assert report.scanned == 8
    alice = cat.store.asset(
        cat.store.resolve_asset(
            __import__("hashlib").sha256((photos / "alice" / "p0.jpg").read_bytes()).hexdigest()
        )
    )
    assert {m["asset"] for n, m in by_object.items() if n != "same.jpg"} == {alice.sha256}


def test_scan_restricted_to_a_dataset(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "bob.txt"
    manifest.write_text(str(photos / "bob" / "p0.jpg"))
    cat.create_dataset("bob", manifest=manifest)
    backup = tmp_path / "b"
    variants(photos / "alice" / "p0.jpg", backup)
    assert cat.scan([str(backup)], against="dataset:bob").matches == []
    assert cat.scan([str(backup)], against="dataset:faces").matches != []


def test_index_follows_the_catalog(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    backup = tmp_path / "b"
    write_photo(backup / "dave.jpg", "dave", 5)
    assert cat.scan([str(backup)]).matches == []
    new = tmp_path / "new" / "dave"
    write_photo(new / "d.jpg", "dave", 5, size=(640, 480))
    cat.ingest(new.parent, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    assert [m["match"] for m in cat.scan([str(backup)]).matches] == ["near"]


def test_lookup_answers_for_one_photo_only(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    mine = variants(photos / "carol" / "p2.jpg", tmp_path / "mine")["half"]
    result = cat.lookup(mine)
    assert result.answered and result.found
    assert result.matches[0]["datasets"] == ["faces@1"] and result.matches[0]["models"] == ["facenet"]
    doc = result.to_json()
    assert "subject" not in str(doc) and "carol" not in str(doc)
    write_photo(tmp_path / "nobody.jpg", "nobody", 3)
    assert not cat.lookup(tmp_path / "nobody.jpg").found


def test_lookup_declines_blank_images(cat: disgorge.Catalog, tmp_path: Path) -> None:
    Image.new("RGB", (400, 300), (128, 128, 128)).save(tmp_path / "blank.jpg")
    result = cat.lookup(tmp_path / "blank.jpg")
    assert not result.answered and "quality" in result.reason
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not an image"):
        cat.lookup(tmp_path / "x.jpg")
