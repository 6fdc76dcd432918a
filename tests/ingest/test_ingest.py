"""Ingest: bad inputs are reported per file, never fatal, never half-registered."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import disgorge
from disgorge.errors import InputError
from disgorge.ingest import IngestOptions
from tests.conftest import ASSETS, write_photo

BAD = ASSETS / "ingest"


def opts(**kw: object) -> IngestOptions:
    """Options for files whose subject is not the point of the test (registered as 'subject unknown')."""
    kw.setdefault("no_subject", "subject_from" not in kw)
    return IngestOptions(source="site", workers=1, **kw)  # type: ignore[arg-type]


def test_bad_files_are_reported_and_good_ones_registered(
    sqlite_cat: disgorge.Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    write_photo(root / "good.jpg", "alice", 1)
    write_photo(root / "good.png", "alice", 2, fmt="PNG")
    for name in (
        "jpeg-truncated-at-half.jpg",
        "jpeg-garbage-after-magic.jpg",
        "text-file-named-as-jpeg.jpg",
        "png-decompression-bomb-100000x100000.png",
    ):
        shutil.copy(BAD / name, root / name)
    os.symlink("/etc/hostname", root / "symlink-out-of-root.jpg")
    summary = sqlite_cat.ingest(root, opts())
    codes = {Path(p.path).name: p.code for p in summary.problems}
    assert codes == {
        "jpeg-truncated-at-half.jpg": "corrupt_image",
        "jpeg-garbage-after-magic.jpg": "not_an_image",
        "text-file-named-as-jpeg.jpg": "not_an_image",
        "png-decompression-bomb-100000x100000.png": "decompression_bomb",
        "symlink-out-of-root.jpg": "symlink",
    }
    assert summary.new_assets == 2 and summary.scanned == 7
    assert sqlite_cat.store.asset_count() == 2


def test_non_images_can_be_allowed(sqlite_cat: disgorge.Catalog, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "record.json").write_text('{"user": 1}')
    summary = sqlite_cat.ingest(root, opts(allow_non_images=True))
    assert summary.problems == [] and summary.new_assets == 1
    assert (
        sqlite_cat.store.asset(1).pdq is None and sqlite_cat.store.asset(1).media_type == "application/json"
    )


def test_unreadable_file_is_reported(
    sqlite_cat: disgorge.Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection at the OS boundary: root can read any mode, so make open() fail for one file."""
    root = tmp_path / "in"
    write_photo(root / "a.jpg", "alice", 1)
    write_photo(root / "locked.jpg", "alice", 2)
    real_open = os.open

    def fake_open(path: str, flags: int, *args: int) -> int:
        if str(path).endswith("locked.jpg"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr("disgorge.ingest.pipeline.os.open", fake_open)
    summary = sqlite_cat.ingest(root, opts())
    assert [(Path(p.path).name, p.code) for p in summary.problems] == [("locked.jpg", "unreadable")]
    assert summary.new_assets == 1


def test_manifest_rows(sqlite_cat: disgorge.Catalog, tmp_path: Path) -> None:
    root = tmp_path / "in"
    write_photo(root / "a.jpg", "alice", 1)
    manifest = root / "m.csv"
    manifest.write_text(
        "path,subject_id,categories,age\na.jpg,alice,user.content.self_image;user.demographic.age_range,33\n"
        "missing.jpg,bob,,40\n"
    )
    summary = sqlite_cat.ingest(root, opts(manifest=manifest))
    assert [(Path(p.path).name, p.code) for p in summary.problems] == [("missing.jpg", "missing")]
    a = sqlite_cat.store.asset(1)
    assert a.categories == ("user.content.self_image", "user.demographic.age_range")
    assert a.subject_id is not None


def test_manifest_path_traversal_is_refused(sqlite_cat: disgorge.Catalog, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    summary = sqlite_cat.ingest(root, opts(manifest=BAD / "manifest-path-traversal.csv"))
    assert [p.code for p in summary.problems] == ["outside_root"]
    assert sqlite_cat.store.asset_count() == 0


def test_manifest_row_pointing_nowhere(sqlite_cat: disgorge.Catalog, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    manifest = shutil.copy(BAD / "manifest-row-pointing-nowhere.csv", tmp_path / "in" / "m.csv")
    summary = sqlite_cat.ingest(tmp_path / "in", opts(manifest=Path(manifest)))
    assert [(Path(p.path).name, p.code) for p in summary.problems] == [("no-such-photo.jpg", "missing")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("manifest-malformed-json-line-2.jsonl", r"manifest-malformed-json-line-2.jsonl:2: not valid JSON"),
        ("manifest-without-path-column.csv", "has no 'path' column"),
    ],
)
def test_malformed_manifest_registers_nothing(
    sqlite_cat: disgorge.Catalog, tmp_path: Path, name: str, message: str
) -> None:
    write_photo(tmp_path / "a.jpg", "alice", 1)
    with pytest.raises(InputError, match=message):
        sqlite_cat.ingest(tmp_path, opts(manifest=BAD / name))
    assert sqlite_cat.store.asset_count() == 0


def test_parallel_ingest_equals_serial(tmp_path: Path, photos: Path) -> None:
    counts = []
    for workers in (1, 2):
        with disgorge.open(tmp_path / f"home{workers}") as cat:
            cat.add_source("site", notice=b"n", uses=["essential.service"])
            s = cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=workers))
            shas = sorted(cat.store.asset(i + 1).sha256 for i in range(s.new_assets))
            counts.append((s.new_assets, shas))
    assert counts[0] == counts[1] and counts[0][0] == 9


def test_batch_failure_registers_nothing(
    sqlite_cat: disgorge.Catalog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while writing a batch (fault injected at the copy insert) leaves no asset without its copy."""
    from disgorge.catalog import assets as assets_mod

    real = assets_mod._bulk_insert

    def failing(s: object, table: object, rows: object, key: object) -> object:
        if getattr(table, "name", "") == "copies":  # the copies of a batch, after its assets
            raise RuntimeError("disk full")
        return real(s, table, rows, key)  # type: ignore[arg-type]

    monkeypatch.setattr(assets_mod, "_bulk_insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        sqlite_cat.ingest(photos, opts(subject_from="parent-dir"))
    assert sqlite_cat.store.asset_count() == 0
