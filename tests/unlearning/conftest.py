"""A home with real handwritten digits (scikit-learn's bundled set, as PNG files) registered as a
dataset, one subject per four images, and a tiny recipe that trains in a fraction of a second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import disgorge
from disgorge.ingest import IngestOptions
from tests.unlearning.digits import write_digits

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from disgorge.unlearning import Recipe, Ref, SisaConfig, SisaTrainer

COUNT = 240


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_digits(root, count=COUNT)
    return root


def load(cat: disgorge.Catalog, digits: Path) -> None:
    cat.add_source(
        "digits",
        notice=b"handwriting collected to train recognisers",
        uses=["train_ai_system"],
        recipients=["lab"],
    )
    summary = cat.ingest(digits, IngestOptions(source="digits", manifest=digits / "manifest.csv", workers=1))
    assert summary.new_assets == COUNT and not summary.problems
    cat.create_dataset("digits", source="digits")


@pytest.fixture
def dcat(tmp_path: Path, digits_dir: Path) -> Iterator[disgorge.Catalog]:
    """SQLite home with the digits registered (most tests; the store tests use ``dcat_any``)."""
    with disgorge.open(tmp_path / "home") as c:
        load(c, digits_dir)
        yield c


@pytest.fixture
def dcat_any(tmp_path: Path, digits_dir: Path, catalog_url: str) -> Iterator[disgorge.Catalog]:
    """The same on SQLite and PostgreSQL."""
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url) as c:
        load(c, digits_dir)
        yield c


RECIPE = Recipe(Ref("disgorge.unlearning.recipes:mlp", {"inputs": 64, "classes": 10, "hidden": [16]}))


def trainer(
    cat: disgorge.Catalog,
    name: str = "dsisa",
    *,
    dataset: str = "digits",
    shards: int = 3,
    slices: int = 3,
    seed: int = 3,
    epochs: int = 2,
    workdir: Path | None = None,
) -> SisaTrainer:
    return SisaTrainer(
        cat,
        dataset,
        name=name,
        recipe=RECIPE,
        config=SisaConfig(shards=shards, slices=slices, seed=seed, epochs=epochs),
        party="lab",
        workdir=workdir,
    )


def subject_assets(cat: disgorge.Catalog, subject: str) -> list[int]:
    from sqlalchemy import select

    from disgorge.catalog.schema import Asset

    sid = cat.store.subject_id(subject)
    with cat.store.session() as s:
        return sorted(s.scalars(select(Asset.id).where(Asset.subject_id == sid)))
