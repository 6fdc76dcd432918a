"""Complete erasure: nothing that entered a plan's closure after planning is left behind, skipped targets
are settled explicitly, and what the erasure leaves behind (datasets, fates, paths, folders) is right."""

from __future__ import annotations

import io
import shutil
import stat
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

import disgorge
from disgorge.catalog.schema import Artifact, Deployment, ErasureTarget
from disgorge.errors import ConflictError
from disgorge.ingest import IngestOptions
from tests.conftest import approve, as_


def plan(cat: disgorge.Catalog, subject: str = "alice", **kw: object) -> str:
    p, _ = cat.erasures.plan(
        scope=("subject", subject) if not kw else None,
        withdrawn=False,
        reason="request",
        legal_basis="GDPR Art. 17",
        **kw,  # type: ignore[arg-type]
    )
    return p.id


def test_late_copy_stops_the_plan_until_a_supplement_covers_it(
    world: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    pid = plan(world)
    approve(world, pid)
    late = tmp_path / "late" / "alice"
    late.mkdir(parents=True)
    shutil.copy(photos / "alice" / "p0.jpg", late / "again.jpg")  # registered after planning
    world.ingest(late.parent, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    with pytest.raises(ConflictError, match=r"is stale: 1 new targets .*nothing was done"):
        world.erasures.run(pid, dry_run=False)
    assert (photos / "alice" / "p0.jpg").exists()
    assert world.erasures.run(pid).stale is not None  # the dry run says so too
    sup = plan(world, supplement=pid)
    assert world.store.get_plan(sup).counts["copy"] == 1
    first = world.erasures.run(pid, dry_run=False)  # covered by a plan now, so deletions may start...
    assert first.status == "incomplete" and not (photos / "alice" / "p0.jpg").exists()
    held = {h["phase"]: h["waiting_for"] for h in first.held}
    assert list(held) == ["forget"] and f"supplement {sup[:12]}" in held["forget"]  # ...forgetting may not
    assert world.store.assets_present(world.store.plan_assets(pid)) == 3
    approve(world, sup)
    assert world.erasures.run(sup, dry_run=False).status == "done"
    assert not (late / "again.jpg").exists()
    assert world.erasures.run(pid, dry_run=False).status == "done"
    assert not (photos / "alice" / "p0.jpg").exists()
    assert world.store.assets_present(world.store.plan_assets(pid)) == 0


def test_skipped_takedown_holds_the_models_until_resolved(world: disgorge.Catalog, tmp_path: Path) -> None:
    with world.store.session() as s:  # a deployment nobody can take down automatically
        for d in s.scalars(select(Deployment)):
            d.hook = None
    pid = plan(world)
    approve(world, pid)
    report = world.erasures.run(pid, dry_run=False)
    assert report.status == "incomplete"
    assert (tmp_path / "models" / "ft.bin").exists()  # never destroyed while its deployment is up
    assert {h["phase"] for h in report.held} >= {"destroy models"}
    open_targets = world.erasures.show(pid)["open_targets"]
    assert [o["kind"] for o in open_targets] == ["deployment"]
    with as_(world, "eve") as eve, pytest.raises(disgorge.PolicyDenied, match=r"may not erase\.resolve"):
        eve.erasures.resolve(pid, open_targets[0]["seq"], "taken down by hand")  # an engineer
    with as_(world, "bea") as bea:
        bea.erasures.resolve(pid, open_targets[0]["seq"], "taken down by hand, ticket OPS-12")
    assert world.erasures.run(pid, dry_run=False).status == "done"
    assert not (tmp_path / "models" / "ft.bin").exists()


def test_what_an_erasure_leaves_behind(world: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "most.txt"  # faces@2: every photo but one of carol's
    manifest.write_text(
        "\n".join(
            str(p) for p in sorted(photos.rglob("*.jpg")) if p.name != "p2.jpg" or "carol" not in str(p)
        )
    )
    assert world.create_dataset("faces", manifest=manifest)[0].ref == "faces@2"
    pid = plan(world)
    approve(world, pid)
    assert world.erasures.run(pid, dry_run=False).status == "done"
    versions = {d.ref: d for d in world.store.list_datasets() if d.name == "faces"}
    assert versions["faces@3"].member_count == 5  # faces@2 minus alice, not faces@1 minus alice (6)
    assert versions["faces@1"].state == versions["faces@2"].state == "erased_members"
    with pytest.raises(disgorge.PolicyDenied, match="held members that were since erased"):
        world.run("t", use="essential.service", party="site", inputs=["dataset:faces@1"])
    assert not (photos / "alice").exists()  # the folder the erasure emptied is gone, its root is not
    assert photos.exists() and (photos / "bob").exists()
    with world.store.session() as s:
        states = {a.name: a.state for a in s.scalars(select(Artifact).where(Artifact.kind == "model"))}
        assert states == {"base": "destroyed", "ft": "destroyed", "bob-only": "active"}
        assert {d.state for d in s.scalars(select(Deployment))} == {"taken_down"}
        uris = list(s.scalars(select(ErasureTarget.uri).where(ErasureTarget.plan_id == pid)))
        evidence = " ".join(e or "" for e in s.scalars(select(ErasureTarget.evidence)))
    assert not any("alice" in u for u in uris) and "alice" not in evidence  # paths kept as keyed hashes
    assert world.erasures.verify(pid, roots=[str(photos)]).clean


def test_a_cropped_copy_is_found_after_the_erasure(
    world: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    with Image.open(photos / "alice" / "p0.jpg") as im:
        w, h = im.size
        crop = im.crop((w // 10, h // 10, w - w // 10, h - h // 10))  # 10% per side, re-encoded
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=80)
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "x.jpg").write_bytes(buf.getvalue())
    pid = plan(world)
    approve(world, pid)
    world.erasures.run(pid, dry_run=False)
    report = world.erasures.verify(pid, roots=[str(backup)])
    assert len(report.residual) == 1 and not report.clean
    index = world.indexes.open("erased")  # tombstones keep the crops: whole image and two crops each
    try:
        assert len(index) == 3 * len(world.store.plan_tombstones(pid))
    finally:
        index.close()


def test_the_catalog_file_is_private(world: disgorge.Catalog) -> None:
    db = Path(world.store.url.removeprefix("sqlite:///")) if world.store.url.startswith("sqlite") else None
    if db is None:
        pytest.skip("PostgreSQL keeps its own files")
    for f in (db, Path(f"{db}-wal")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
