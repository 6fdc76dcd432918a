"""Plan, approve, execute and verify an erasure on local files, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Asset, Subject, Tombstone
from disgorge.errors import PolicyDenied, UsageError, VerificationFailed
from disgorge.ingest import IngestOptions
from tests.conftest import approve
from tests.erasure.conftest import tree_digest


def plan_alice(cat: disgorge.Catalog) -> str:
    plan, _ = cat.erasures.plan(
        scope=("subject", "alice"),
        withdrawn=False,
        reason="erasure request #17",
        legal_basis="GDPR Art. 17(1)(b)",
        deadline="2026-12-31",
    )
    return plan.id


def test_plan_is_content_addressed_and_names_no_subject(world: disgorge.Catalog) -> None:
    a = plan_alice(world)
    plan, created = world.erasures.plan(
        scope=("subject", "alice"),
        withdrawn=False,
        reason="erasure request #17",
        legal_basis="GDPR Art. 17(1)(b)",
    )
    assert plan.id == a and not created
    doc = world.erasures.show(a)
    assert (
        doc["counts"]["copy"] == 3 and doc["counts"]["model_copy"] == 2 and doc["counts"]["deployment"] == 1
    )
    assert doc["counts"]["dataset"] == 1 and doc["counts"]["recipient"] == 2 and doc["counts"]["catalog"] == 1
    assert "alice" not in str(doc)
    assert doc["survives"]["datasets"] == [{"ref": "faces@1", "remaining": 6}]
    assert doc["survives"]["models_not_affected"] == ["bob-only"]
    bob = world.erasures.plan(scope=("subject", "bob"), withdrawn=False, reason="r", legal_basis="b")
    assert bob[0].id != a


def test_approval_by_a_second_person_is_required(world: disgorge.Catalog) -> None:
    pid = plan_alice(world)
    with pytest.raises(VerificationFailed, match="is not authorised: 0 of 1 required approvals"):
        world.erasures.run(pid, dry_run=False)
    with pytest.raises(PolicyDenied, match="the requester cannot approve their own plan"):
        world.erasures.approve(pid)  # ann holds every role, the approver's too, yet requested it
    assert approve(world, pid).complete
    assert world.erasures.show(pid)["approvers"] == ["bea"]
    with pytest.raises(UsageError, match="needs --reason"):
        world.erasures.plan(scope=("subject", "bob"), withdrawn=False, reason=" ", legal_basis="b")


def test_execute_erases_exactly_the_plan(world: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    pid = plan_alice(world)
    approve(world, pid)
    before = tree_digest(tmp_path)
    dry = world.erasures.run(pid)
    assert dry.dry_run and dry.steps["copy"] == 3 and tree_digest(tmp_path) == before
    report = world.erasures.run(pid, dry_run=False)
    assert report.status == "done", report.problems
    after = tree_digest(tmp_path)
    gone = set(before) - set(after)
    assert gone == {f"photos/alice/p{k}.jpg" for k in range(3)} | {"models/base.bin", "models/ft.bin"}
    for path, digest in after.items():  # everything not planned is byte-identical
        if path != "takedown.log" and not path.startswith(("home/", "catalog.db")):
            assert before.get(path) == digest, path
    assert (tmp_path / "takedown.log").read_text() == "down\n"
    assert (
        world.store.get_dataset("faces").ref == "faces@2"
        and world.store.get_dataset("faces").member_count == 6
    )
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 6
        assert s.scalar(select(func.count()).select_from(Subject)) == 2
        assert s.scalar(select(func.count()).select_from(Tombstone)) == 3
    notices = list((world.home.path / "notices").iterdir())
    assert len(notices) == 2 and all("alice" not in n.read_text() for n in notices)
    assert world.erasures.run(pid, dry_run=False).status == "done"  # idempotent


def test_changed_or_swapped_targets_are_skipped_not_deleted(
    world: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    pid = plan_alice(world)
    approve(world, pid)
    changed = photos / "alice" / "p1.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited after planning")
    swapped = photos / "alice" / "p2.jpg"
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("not to be deleted")
    swapped.unlink()
    os.symlink(outside, swapped)
    report = world.erasures.run(pid, dry_run=False)
    assert report.status == "incomplete"
    states = {Path(p["uri"]).name: p["state"] for p in report.problems}
    assert states == {"p1.jpg": "skipped", "p2.jpg": "skipped"}, report.problems
    evidence = {Path(p["uri"]).name: p["evidence"] for p in report.problems}
    assert "now a symlink (never followed or deleted)" in evidence["p2.jpg"], evidence
    assert changed.exists() and outside.read_text() == "not to be deleted" and swapped.is_symlink()
    assert not (photos / "alice" / "p0.jpg").exists()
    with world.store.session() as s:  # the catalog does not forget while anything remains
        assert s.scalar(select(func.count()).select_from(Asset)) == 9


def test_verify_finds_a_hidden_reencoded_copy(world: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    original = (photos / "alice" / "p0.jpg").read_bytes()
    backup = tmp_path / "backup"
    backup.mkdir()
    buf = io.BytesIO()
    im = Image.open(io.BytesIO(original))
    im.resize((im.width // 2, im.height // 2)).save(buf, "JPEG", quality=70)
    (backup / "k3f9.jpg").write_bytes(buf.getvalue())
    pid = plan_alice(world)
    approve(world, pid)
    world.erasures.run(pid, dry_run=False)
    dirty = world.erasures.verify(pid, roots=[str(backup)])
    assert not dirty.clean and dirty.remaining == []
    assert [Path(r["object"]).name for r in dirty.residual] == ["k3f9.jpg"] and dirty.residual[0][
        "match"
    ] == "near"
    (backup / "k3f9.jpg").unlink()
    clean = world.erasures.verify(pid, roots=[str(backup)])
    assert clean.clean and world.erasures.show(pid)["verification"]["clean"] is True


def test_erased_content_cannot_come_back(world: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    original = (photos / "alice" / "p0.jpg").read_bytes()
    pid = plan_alice(world)
    approve(world, pid)
    world.erasures.run(pid, dry_run=False)
    again = tmp_path / "again" / "alice"
    again.mkdir(parents=True)
    (again / "same.jpg").write_bytes(original)
    im = Image.open(io.BytesIO(original))
    im.save(again / "reencoded.jpg", "JPEG", quality=60)
    opts = IngestOptions(source="site", subject_from="parent-dir", workers=1)
    summary = world.ingest(again.parent, opts)
    assert sorted((Path(p.path).name, p.code) for p in summary.problems) == [
        ("reencoded.jpg", "near_erased_content"),
        ("same.jpg", "erased_content"),
    ]
    assert all(pid[:12] in p.reason for p in summary.problems) and summary.flags == []
    summary = world.ingest(again.parent, replace(opts, allow_near_erased=True))
    assert [(Path(p.path).name, p.code) for p in summary.problems] == [("same.jpg", "erased_content")]
    assert [(Path(f.path).name, f.code) for f in summary.flags] == [("reencoded.jpg", "near_erased_content")]
    assert world.store.tombstone_for(hashlib.sha256(original).hexdigest()) == pid
    world.create_dataset("faces", source="site")
    report = world.check(["faces"], use="essential.service", recipient="site")
    assert report.flagged == {pid: 1} and not report.ok
    assert report.by_reason() == {"near_erased_content": 1}


def test_withdrawn_scope(world: disgorge.Catalog, tmp_path: Path) -> None:
    world.add_source(
        "research",
        notice=b"c",
        uses=["train_ai_system"],
        recipients=["acme"],
        legal_basis="consent",
        categories=["user.content.self_image"],
    )
    src = tmp_path / "r" / "dora"
    src.mkdir(parents=True)
    (src / "d.jpg").write_bytes(b"dora's photo bytes")
    world.ingest(
        src.parent,
        IngestOptions(source="research", subject_from="parent-dir", workers=1, allow_non_images=True),
    )
    world.create_dataset("research", source="research")
    consent = tmp_path / "c.csv"
    consent.write_text(
        "subject_id,use,recipient,action,timestamp,notice_version\n"
        "dora,train_ai_system,acme,granted,2024-01-01T00:00:00Z,1\n"
    )
    world.import_consent(consent)
    with world.run("r", use="train_ai_system", party="acme", inputs=["dataset:research"]) as run:
        (tmp_path / "rm.bin").write_bytes(b"rm")
        run.log_model(tmp_path / "rm.bin", name="research-model")
    with pytest.raises(disgorge.NotFoundError, match="no recorded run uses data whose consent was withdrawn"):
        world.erasures.plan(scope=None, withdrawn=True, reason="r", legal_basis="b")
    consent.write_text(
        "subject_id,use,recipient,action,timestamp,notice_version\n"
        "dora,train_ai_system,acme,withdrawn,2025-01-01T00:00:00Z,1\n"
    )
    world.import_consent(consent)
    plan, _ = world.erasures.plan(
        scope=None, withdrawn=True, reason="consent withdrawn", legal_basis="GDPR Art. 7(3)"
    )
    assert plan.counts["assets"] == 1 and plan.counts["model_copy"] == 1
