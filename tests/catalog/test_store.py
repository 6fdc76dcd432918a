"""The catalog store, run on SQLite and on PostgreSQL (the ``cat`` fixture is parametrized)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

import disgorge
from disgorge.catalog.schema import Subject
from disgorge.errors import ConflictError, InputError, NotFoundError
from disgorge.ingest import IngestOptions


def ingest(cat: disgorge.Catalog, path: Path, **kw: object) -> disgorge.model.IngestSummary:
    return cat.ingest(path, IngestOptions(source="site", subject_from="parent-dir", workers=1, **kw))  # type: ignore[arg-type]


def test_source_notice_versions(cat: disgorge.Catalog) -> None:
    info, changed = cat.add_source(
        "site",
        notice=b"we operate the service",
        uses=["essential.service"],
        recipients=["site"],
        categories=["user.content.self_image"],
    )
    assert not changed and info.notice_version == 1
    info, changed = cat.add_source(
        "site", notice=b"we now also train models", uses=["essential.service", "train_ai_system"]
    )
    assert changed and info.notice_version == 2 and "train_ai_system" in info.uses
    with pytest.raises(NotFoundError, match="source 'nope' is not in the catalog"):
        cat.store.get_source("nope")


def test_reingest_adds_nothing_and_new_path_adds_copy(cat: disgorge.Catalog, photos: Path) -> None:
    first = ingest(cat, photos)
    assert (first.new_assets, first.new_copies, first.problems) == (9, 9, [])
    again = ingest(cat, photos)
    assert (again.new_assets, again.new_copies, again.unchanged) == (0, 0, 9)
    shutil.copy(photos / "alice" / "p0.jpg", photos / "alice" / "p0-copy.jpg")
    third = ingest(cat, photos)
    assert (third.new_assets, third.new_copies) == (0, 1)
    assert cat.store.asset_count() == 9
    sha = cat.store.asset(1).sha256
    assert len(cat.store.asset(cat.store.resolve_asset(sha)).copies) in (1, 2)


def test_subjects_are_keyed_pseudonyms(cat: disgorge.Catalog, photos: Path) -> None:
    ingest(cat, photos)
    with cat.store.session() as s:
        pseudonyms = list(s.scalars(select(Subject.pseudonym)))
    assert len(pseudonyms) == 3
    assert not any(name in p for p in pseudonyms for name in ("alice", "bob", "carol"))
    assert cat.store.hasher.subject("alice") in pseudonyms
    assert stat.S_IMODE(cat.home.key_path.stat().st_mode) == 0o600


def test_datasets_are_versioned_and_content_addressed(cat: disgorge.Catalog, photos: Path) -> None:
    ingest(cat, photos)
    d1, created = cat.create_dataset("faces", source="site")
    assert created and d1.version == 1 and d1.member_count == 9
    same, created = cat.create_dataset("faces", source="site")
    assert not created and same.digest == d1.digest and same.version == 1
    write_more = photos / "dave" / "p0.jpg"
    from tests.conftest import write_photo

    write_photo(write_more, "dave", 7)
    ingest(cat, photos)
    d2, created = cat.create_dataset("faces", source="site")
    assert created and d2.version == 2 and d2.member_count == 10 and d2.digest != d1.digest
    assert cat.store.get_dataset("faces@1").digest == d1.digest
    assert d2.stats["subject_count"] == 4 and d2.stats["sources"] == {"site": 10}


def test_digest_is_independent_of_order_and_backend(cat: disgorge.Catalog, photos: Path) -> None:
    from disgorge.catalog.datasets import manifest_digest

    ingest(cat, photos)
    d, _ = cat.create_dataset("faces", source="site")
    shas = [cat.store.asset(i).sha256 for i in cat.store.members(d.id)]
    assert manifest_digest(reversed(shas)) == d.digest == manifest_digest(shas)


def test_dataset_from_where_and_manifest(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    ingest(cat, photos)
    base, _ = cat.create_dataset("faces", source="site")
    wide, _ = cat.create_dataset(
        "wide", from_dataset="faces", where="width >= 300 and category has user.content"
    )
    assert wide.member_count == 9 and wide.derived_from == "faces@1"
    none, _ = cat.create_dataset("none", from_dataset="faces", where="meta.age > 30")
    assert none.member_count == 0
    manifest = tmp_path / "pick.txt"
    manifest.write_text(f"{photos / 'alice' / 'p0.jpg'}\n{cat.store.asset(2).sha256}\n")
    picked, _ = cat.create_dataset("picked", manifest=manifest)
    assert picked.member_count == 2
    manifest.write_text("f" * 64 + "\n")
    with pytest.raises(InputError, match="1 entries are not registered"):
        cat.create_dataset("bad", manifest=manifest)
    assert [d.name for d in cat.store.list_datasets()] == ["faces", "none", "picked", "wide"]
    with pytest.raises(InputError, match="unknown field 'colour'"):
        cat.create_dataset("x", from_dataset="faces", where="colour = red")
    assert base.member_count == 9


def test_models_by_name_path_or_hash(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    ingest(cat, photos)
    cat.create_dataset("faces", source="site")
    weights = tmp_path / "m.bin"
    weights.write_bytes(b"weights-1")
    with cat.run(
        "train", enforce=False, use="train_ai_system", party="acme", inputs=["dataset:faces@1"]
    ) as run:
        m = run.log_model(weights, name="net-v1")
    for ref in ("net-v1", str(weights), m.sha256, m.sha256[:12]):
        assert cat.store.resolve_artifact(ref, kind="model").id == m.id
    other = tmp_path / "m2.bin"
    other.write_bytes(b"weights-2")
    with (
        pytest.raises(ConflictError, match="already names another model"),
        cat.run("train2", enforce=False, use="train_ai_system", party="acme") as run,
    ):
        run.log_model(other, name="net-v1")
    with pytest.raises(NotFoundError, match="model 'ghost' is not in the catalog"):
        cat.store.resolve_artifact("ghost", kind="model")


def _kinds_after(cat: disgorge.Catalog, before: int) -> list[dict[str, object]]:
    import json

    from sqlalchemy import select

    from disgorge.catalog.schema import LedgerEntry

    with cat.store.session() as s:
        rows = s.scalars(select(LedgerEntry.entry).where(LedgerEntry.seq >= before).order_by(LedgerEntry.seq))
        return [json.loads(e) for e in rows]


def _size(cat: disgorge.Catalog) -> int:
    return int(cat.store.ledger_size())


def test_every_change_an_erasure_must_cover_is_in_the_ledger(cat: disgorge.Catalog, tmp_path: Path) -> None:
    """A copy whose content changed, a new copy of a known model, a new link to a model: each changes
    what an erasure must delete or take into account, so each appends its event (content-free)."""
    from disgorge.catalog.runs import NewArtifact
    from disgorge.model import AssetRecord

    src = cat.store.list_sources()[0]
    a, b = "a" * 64, "b" * 64
    rec = AssetRecord(a, 10, "image/jpeg", "file:///data/x.jpg", 0, 1, subject="s1")
    cat.store.register([rec], source_id=src.id, notice_id=src.notice_id)
    n = _size(cat)
    moved = AssetRecord(b, 11, "image/jpeg", "file:///data/x.jpg", 0, 2, subject="s1")
    assert cat.store.register([moved], source_id=src.id, notice_id=src.notice_id).moved_copies == 1
    got = _kinds_after(cat, n)
    assert [(e["kind"], e["moved_copies"]) for e in got] == [("ingest_batch", 1)]
    m = "c" * 64
    model = cat.store.register_artifact(kind="model", uri="file:///m/one.bin", sha256=m, size=3, name="m1")
    n = _size(cat)
    cat.store.register_artifact(kind="model", uri="file:///backup/one.bin", sha256=m, size=3)
    cat.store.register_artifacts([NewArtifact(kind="model", uri="file:///third/one.bin", sha256=m, size=3)])
    cat.store.register_artifact(kind="model", uri="file:///backup/one.bin", sha256=m, size=3)  # nothing new
    ds, _ = cat.create_dataset("all", source=src.name)
    cat.store.link("dataset", ds.id, model.id, "derived_from")
    cat.store.link("dataset", ds.id, model.id, "derived_from")  # nothing new
    got = [e for e in _kinds_after(cat, n) if e["kind"] != "dataset"]
    assert [e["kind"] for e in got] == ["artifact_copy", "artifact_copy", "link"]
    assert got[0]["artifact_id"] == model.id and got[1]["artifact_ids"] == [model.id]
    assert all("file:" not in str(e) and "/backup" not in str(e) for e in got)  # no path in the log
