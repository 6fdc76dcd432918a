"""The PyTorch datasets: refuse before reading, verify while reading, record the run's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

import disgorge
from disgorge.errors import PolicyDenied, VerificationFailed
from tests.conftest import add_training_datasets

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from disgorge.integrations.torch import CatalogDataset, CatalogIterableDataset  # noqa: E402


@pytest.fixture
def cat(sqlite_cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> disgorge.Catalog:
    add_training_datasets(sqlite_cat, photos, tmp_path)
    return sqlite_cat


def test_dating_site_refused_before_any_read(cat: disgorge.Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run reads an allowed dataset, then asks for the dating site's photos mid-way: refused, and not
    one of their files is opened (while the allowed dataset's were)."""
    from disgorge.integrations import torch as integration

    opened: list[str] = []
    real = integration.read_verified

    def spy(sha: str, path: str) -> bytes:
        opened.append(path)
        return real(sha, path)

    monkeypatch.setattr(integration, "read_verified", spy)
    with cat.run("train", use="train_ai_system", party="acme") as run:
        allowed = CatalogDataset(run, "ok")
        allowed[0], allowed[1]
        inputs_before = list(run.inputs)
        with pytest.raises(PolicyDenied, match="reading faces@1 in run 'train' refused"):
            CatalogDataset(run, "faces")
        assert run.inputs == inputs_before
    assert len(opened) == 2 and all("/mine/dave/" in p for p in opened)


def test_allowed_dataset_trains_and_is_recorded(cat: disgorge.Catalog) -> None:
    with cat.run("train", use="train_ai_system", party="acme") as run:
        ds = CatalogDataset(run, "ok")
        batch = next(iter(DataLoader(ds, batch_size=3)))
        assert tuple(batch.shape) == (3, 3, 240, 320) and float(batch.max()) <= 1.0
        assert [x.shape[0] for x in CatalogIterableDataset(run, "ok")] == [3, 3, 3]
    bom_runs = cat.impact("dataset", "ok").runs
    assert [r["name"] for r in bom_runs] == ["train"]


def test_file_swapped_on_disk_is_refused(cat: disgorge.Catalog, tmp_path: Path) -> None:
    with cat.run("train", use="train_ai_system", party="acme") as run:
        ds = CatalogDataset(run, "ok")
        Path(ds.items[1][1]).write_bytes(b"not the registered photo")
        ds[0]
        with pytest.raises(VerificationFailed, match="bytes differ from the registered asset"):
            ds[1]
