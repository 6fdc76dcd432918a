"""Hugging Face datasets built locally (never downloaded): checked for the run's use and party before the
first example is read, recorded as exact content, refused when the policy or provenance says no."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import disgorge
from disgorge.errors import PolicyDenied
from disgorge.ingest import IngestOptions
from tests.conftest import write_photo

datasets = pytest.importorskip("datasets")
from disgorge.integrations import hf  # noqa: E402


@pytest.fixture
def cat(sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> disgorge.Catalog:
    sqlite_cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    sqlite_cat.create_dataset("faces", source="site")
    sqlite_cat.add_source(
        "ok",
        notice=b"train",
        uses=["train_ai_system"],
        recipients=["acme"],
        categories=["user.content.self_image"],
    )
    for k in range(3):
        write_photo(tmp_path / "mine" / "dave" / f"d{k}.jpg", "dave", 900 + k)
    sqlite_cat.ingest(tmp_path / "mine", IngestOptions(source="ok", subject_from="parent-dir", workers=1))
    sqlite_cat.create_dataset("ok", source="ok")
    return sqlite_cat


def _imagefolder(folder: Path, tmp_path: Path) -> datasets.Dataset:
    return datasets.load_dataset(
        "imagefolder", data_dir=str(folder), split="train", cache_dir=str(tmp_path / "hf-cache")
    )


def test_load_checks_before_reading_and_records_the_version(cat: disgorge.Catalog) -> None:
    with cat.run("hf-train", use="train_ai_system", party="acme") as run:
        ds = hf.load(run, "ok")
        assert len(ds) == 3 and ds[0]["image"].size == (320, 240)
        with pytest.raises(PolicyDenied, match="reading faces@1 in run 'hf-train' refused"):
            hf.load(run, "faces")
    assert cat.lineage  # the run is in the catalog with ok@1 as its input
    assert [r.run["name"] for r in cat.review_runs()] == []


def test_an_imagefolder_of_the_dating_sites_photos_is_refused(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    folder = _imagefolder(photos, tmp_path)
    with (
        cat.run("hf-train", use="train_ai_system", party="acme") as run,
        pytest.raises(PolicyDenied, match="refused before any data was read"),
    ):
        hf.wrap(run, folder)


def test_an_allowed_imagefolder_is_recorded_exactly(cat: disgorge.Catalog, tmp_path: Path) -> None:
    folder = _imagefolder(tmp_path / "mine", tmp_path)
    with cat.run("hf-train", use="train_ai_system", party="acme") as run:
        assert hf.wrap(run, folder, name="dave-hf") is folder
    info = cat.store.get_dataset("dave-hf")
    assert info.digest == cat.store.get_dataset("ok@1").digest
    assert cat.impact("source", "ok").counts()["runs"] == 1


def test_unregistered_photos_are_unknown_provenance(cat: disgorge.Catalog, tmp_path: Path) -> None:
    paths = [str(write_photo(tmp_path / "new" / f"n{k}.jpg", "stranger", 5000 + k)) for k in range(2)]
    ds = datasets.Dataset.from_dict({"image": paths}).cast_column("image", datasets.Image())
    with cat.run("hf-train", use="train_ai_system", party="acme") as run:
        with pytest.raises(
            PolicyDenied, match="2 of 2 examples of this Hugging Face dataset are not registered"
        ):
            hf.wrap(run, ds)
        assert hf.wrap(run, ds, allow_unknown=True) is ds
