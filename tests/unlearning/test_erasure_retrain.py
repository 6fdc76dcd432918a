"""Erasure disposition ``retrain``: the planner offers an exact retrain for SISA ensembles only, the
signed plan chooses it, the executor retrains (resumably, batching pending plans), destroys every file
that saw the erased data, and the certificate lists the model as retrained with hashes a verifier checks
offline. Real digits, a managed catalog, real signatures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroaring import BitMap

import disgorge
from disgorge.certificate import v2, verify_any
from disgorge.errors import UsageError, VerificationFailed
from disgorge.ledger.certificate import dump_certificate
from disgorge.unlearning import Ensemble, load_ensemble, verify_exact
from tests.conftest import PEOPLE, accept_notices, approve, claim
from tests.unlearning.conftest import RECIPE, load, subject_assets, trainer

pytest.importorskip("torch")


def _world(tmp_path: Path, digits_dir: Path, url: str | None) -> Iterator[tuple[disgorge.Catalog, Ensemble]]:
    data = tmp_path / "data"
    shutil.copytree(digits_dir, data)
    with disgorge.open(tmp_path / "home", catalog_url=url, identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        load(cat, data)
        accept_notices(cat, "lab")
        ens = trainer(cat).train()
        cat.add_storage_root(data)
        cat.add_storage_root(cat.home.path / "sisa")
        yield cat, ens


@pytest.fixture
def world(tmp_path: Path, digits_dir: Path) -> Iterator[tuple[disgorge.Catalog, Ensemble]]:
    """A managed home (ann admin, bea approves) with its own copy of the digits, a SISA ensemble of
    3 shards x 3 slices on them, and storage roots over the data and the ensemble's files."""
    yield from _world(tmp_path, digits_dir, None)


@pytest.fixture
def world_any(
    tmp_path: Path, digits_dir: Path, catalog_url: str
) -> Iterator[tuple[disgorge.Catalog, Ensemble]]:
    """The same on SQLite and PostgreSQL."""
    yield from _world(tmp_path, digits_dir, catalog_url)


def subject_in(cat: disgorge.Catalog, ens: Ensemble, shard: int, *, skip: int = 0) -> str:
    """A subject whose members sit in ``shard`` at a slice after the first (so a restart checkpoint is used)."""
    place = {m: (sh.shard, sl.slice) for sh in ens.manifest.shards for sl in sh.slices for m in sl.members}
    found = []
    for i in range(60):
        try:
            ids = subject_assets(cat, f"writer-{i:04d}")
        except disgorge.NotFoundError:  # erased already
            continue
        if place[ids[0]][0] == shard and place[ids[0]][1] > 0:
            found.append(f"writer-{i:04d}")
    return found[skip]


def plan(cat: disgorge.Catalog, subject: str, retrain: tuple[str, ...] = ()) -> str:
    p, _ = cat.erasures.plan(
        scope=("subject", subject),
        withdrawn=False,
        reason="erasure request",
        legal_basis="GDPR Art. 17(1)",
        retrain=retrain,
    )
    return p.id


def carry_out(cat: disgorge.Catalog, pid: str) -> None:
    approve(cat, pid)
    report = cat.erasures.run(pid, dry_run=False)
    assert report.status == "done", report.to_json()
    assert cat.erasures.verify(pid).clean


def test_planner_offers_retrain_for_the_sisa_ensemble_and_destroys_everything_else(
    world: tuple[disgorge.Catalog, Ensemble], tmp_path: Path
) -> None:
    cat, ens = world
    victim = subject_in(cat, ens, 1)
    other = tmp_path / "plain.bin"  # a plain model on the same data, and a fine-tune of the ensemble
    other.write_bytes(b"plain weights")
    tuned = tmp_path / "tuned.bin"
    tuned.write_bytes(b"fine-tuned from the ensemble's outputs")
    with cat.run("plain", use="train_ai_system", party="lab", inputs=["dataset:digits"]) as run:
        run.log_model(other, name="plain")
    with cat.run("tune", use="train_ai_system", party="lab", inputs=["model:dsisa"]) as run:
        run.log_model(tuned, name="tuned", parents=["dsisa"], relation="distilled_from")
    fake = tmp_path / "combo.json"  # ensemble_of links, but not a SISA ensemble
    fake.write_text('{"format": "not-sisa"}')
    with cat.run("combo", use="train_ai_system", party="lab", inputs=["model:plain"]) as run:
        run.log_model(fake, name="combo", parents=["plain"], relation="ensemble_of")
    cat.add_storage_root(tmp_path)

    default = cat.store.get_plan(plan(cat, victim))
    offers = default.survivors["retrainable"]
    assert [(o["model"], o["disposition"]) for o in offers] == [("dsisa", "destroy")]
    options = offers[0]["options"]
    assert options["retrain"]["shards"] == 1 and options["destroy"]["shards"] == 3
    assert options["retrain"]["slices"] < options["destroy"]["slices"]
    assert not list(cat.store.targets(default.id, kinds=("retrain",)))

    chosen = cat.store.get_plan(plan(cat, victim, retrain=("dsisa",)))
    assert chosen.id != default.id  # the choice is part of what is signed
    assert chosen.survivors["retrainable"][0]["disposition"] == "retrain"
    (target,) = cat.store.targets(chosen.id, kinds=("retrain",))
    assert target.identity["plan"]["shards"][0]["shard"] == 1
    destroyed = {t.uri.rsplit("/", 1)[-1] for t in cat.store.targets(chosen.id, kinds=("model_copy",))}
    assert {"tuned.bin", "plain.bin", "combo.json", "aggregate.json", "model.safetensors"} <= destroyed
    for ref in ("plain", "tuned", "combo", "dsisa.s01"):
        with pytest.raises(UsageError, match=f"--retrain {ref}: not a model this erasure affects"):
            plan(cat, victim, retrain=(ref,))


def test_retrain_end_to_end_then_certificate_verifies_offline(
    world_any: tuple[disgorge.Catalog, Ensemble], tmp_path: Path
) -> None:
    cat, ens = world_any
    victim = subject_in(cat, ens, 2)
    erased = BitMap(subject_assets(cat, victim))
    old_files = {Path(sl.checkpoint["path"]) for sl in ens.manifest.shards[2].slices}
    pid = plan(cat, victim, retrain=("dsisa",))
    (target,) = cat.store.targets(pid, kinds=("retrain",))
    first = target.identity["plan"]["shards"][0]["first_slice"]
    carry_out(cat, pid)

    art, manifest, _ = load_ensemble(cat.store, "dsisa.g1")
    for sh in manifest.shards:  # erased members are in no remaining checkpoint's member set
        for sl in sh.slices:
            assert not erased & BitMap(sl.members)
            assert not erased & cat.store.members(cat.store.get_dataset(sl.dataset["ref"]).id)
    kept = {Path(sl.checkpoint["path"]) for sl in ens.manifest.shards[2].slices[:first]}
    saw = old_files - kept
    assert saw and not any(p.exists() for p in saw)  # every checkpoint that saw the data is gone
    assert all(p.exists() for p in kept)  # the restart point never saw it
    assert (
        not Path(ens.manifest.shards[2].slices[0].checkpoint["path"])
        .parent.joinpath("model.safetensors")
        .exists()
    )
    assert verify_exact(cat, "dsisa.g1").ok

    cert = cat.certificate(pid)
    key = cat.proofs.identity
    check = verify_any(dump_certificate(cert), [key.public_key()])
    assert any("retrained exactly" in c for c in check.checks)
    by_name = {m["name"]: m for m in cert["models"]}
    agg, shard = by_name["dsisa"], by_name["dsisa.s02"]
    assert agg["disposition"] == shard["disposition"] == "retrained"
    assert agg["detail"]["new_sha256"] == art.sha256 and agg["detail"]["shards_retrained"] == [2]
    assert agg["detail"]["torch"] and agg["detail"]["determinism"]["deterministic_algorithms"] is True
    assert shard["detail"]["slices_retrained"] == list(range(first, 3))
    assert shard["detail"]["new_sha256"] == manifest.shards[2].model["sha256"]
    assert len(shard["detail"]["member_set_digests"]) == 3
    from disgorge.certificate.render import render_html

    assert "as <b>dsisa.g1</b> (shards 2; torch" in render_html(cert)

    def tampered(edit: object) -> bytes:
        doc = json.loads(json.dumps(cert))
        edit(doc)  # type: ignore[operator]
        return dump_certificate(v2.sign(doc, key.private_key(), key.name))  # re-signed by the insider

    def new_shard_hash(doc: dict) -> None:
        m = next(m for m in doc["models"] if m["name"] == "dsisa.s02")
        m["detail"]["new_sha256"] = "0" * 64

    def new_agg_hash(doc: dict) -> None:
        m = next(m for m in doc["models"] if m["name"] == "dsisa")
        m["detail"]["new_sha256"] = "1" * 64

    def destroyed_instead(doc: dict) -> None:
        m = next(m for m in doc["models"] if m["name"] == "dsisa.s02")
        m["disposition"], m["detail"] = "destroyed", None

    def drop_event(doc: dict) -> None:
        doc["ledger"]["entries"] = [e for e in doc["ledger"]["entries"] if e["role"] != "retrain"]

    def edited_event(doc: dict) -> None:
        e = next(e for e in doc["ledger"]["entries"] if e["role"] == "retrain")
        e["entry"] = e["entry"].replace(shard["detail"]["new_sha256"], "2" * 64)

    for edit, why in (
        (new_shard_hash, "retrain detail differs from the logged retrain"),
        (new_agg_hash, "retrain detail differs from the logged retrain"),
        (destroyed_instead, "that the certificate omits"),
        (drop_event, "no logged retrain replaced"),
        (edited_event, "not proven in the checkpoint"),
    ):
        with pytest.raises(VerificationFailed, match=why):
            verify_any(tampered(edit), [key.public_key()])
    unsigned = json.loads(json.dumps(cert))
    new_shard_hash(unsigned)
    with pytest.raises(VerificationFailed, match="signature"):
        verify_any(dump_certificate(unsigned), [key.public_key()])


def test_retrained_shard_equals_a_from_scratch_shard_on_the_remaining_data(
    world: tuple[disgorge.Catalog, Ensemble], tmp_path: Path
) -> None:
    cat, ens = world
    victim = subject_in(cat, ens, 0)
    carry_out(cat, plan(cat, victim, retrain=("dsisa",)))
    _, manifest, _ = load_ensemble(cat.store, "dsisa.g1")
    cat.create_dataset("digits-remaining", source="digits")  # the catalog forgot the victim
    fresh = trainer(cat, "fresh", dataset="digits-remaining", workdir=tmp_path / "fresh").train()
    assert [sh.model["sha256"] for sh in manifest.shards] == [
        sh.model["sha256"] for sh in fresh.manifest.shards
    ]
    assert RECIPE.to_json() == manifest.recipe


def test_two_pending_plans_retrain_each_shard_once(world: tuple[disgorge.Catalog, Ensemble]) -> None:
    cat, ens = world
    a, b = subject_in(cat, ens, 1), subject_in(cat, ens, 1, skip=1)
    gone = BitMap(subject_assets(cat, a)) | BitMap(subject_assets(cat, b))
    pa, pb = plan(cat, a, retrain=("dsisa",)), plan(cat, b, retrain=("dsisa",))
    unapproved = plan(cat, subject_in(cat, ens, 0), retrain=("dsisa",))
    approve(cat, pb)
    carry_out(cat, pa)  # runs first, and takes b's approved retrain along, not the unapproved one
    _, g1, _ = load_ensemble(cat.store, "dsisa.g1")
    assert g1.history[-1]["shards"] == [1]
    assert not gone & BitMap(m for sh in g1.shards for sl in sh.slices for m in sl.members)
    report = cat.erasures.run(pb, dry_run=False)
    assert report.status == "done"
    (t,) = cat.store.targets(pb, kinds=("retrain",))
    assert f"batched with plan(s) {pa[:12]}" in (t.evidence or "")
    with pytest.raises(disgorge.NotFoundError):
        cat.store.resolve_artifact("dsisa.g2", kind="model")  # one retrain for both
    assert [t.state for t in cat.store.targets(unapproved, kinds=("retrain",))] == ["pending"]
    assert cat.erasures.verify(pb).clean
    for pid in (pa, pb):
        cert = cat.certificate(pid)
        verify_any(dump_certificate(cert), [cat.proofs.identity.public_key()])
        assert {m["name"] for m in cert["models"] if m["disposition"] == "retrained"} == {
            "dsisa",
            "dsisa.s01",
        }


def test_a_retrain_that_fails_holds_deletions_until_resolved_then_destroys(
    world: tuple[disgorge.Catalog, Ensemble], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the retrain raises. Nothing is deleted (its inputs would be gone); a second run
    resumes and finishes; a plan whose retrain an approver resolves destroys the model instead."""
    cat, ens = world
    from disgorge.unlearning import retrainer

    victim = subject_in(cat, ens, 2)
    pid = plan(cat, victim, retrain=("dsisa",))
    approve(cat, pid)
    real = retrainer.execute_forget

    def crash(*args: object, **kwargs: object) -> object:
        raise RuntimeError("power cut")

    monkeypatch.setattr(retrainer, "execute_forget", crash)
    report = cat.erasures.run(pid, dry_run=False)
    assert report.status == "incomplete"
    assert [h["phase"] for h in report.held] == [
        "delete data",
        "destroy models",
        "rebuild and notify",
        "forget",
    ]
    assert Path(ens.manifest.workdir, "g0", "aggregate.json").exists()
    monkeypatch.setattr(retrainer, "execute_forget", real)
    assert cat.erasures.run(pid, dry_run=False).status == "done"
    assert cat.erasures.verify(pid).clean

    other = plan(cat, subject_in(cat, ens, 0), retrain=("dsisa.g1",))
    approve(cat, other)
    monkeypatch.setattr(retrainer, "execute_forget", crash)
    assert cat.erasures.run(other, dry_run=False).status == "incomplete"
    (t,) = cat.store.targets(other, kinds=("retrain",))
    with disgorge.open(cat.home.path, identity=PEOPLE["bea"]) as bea:
        bea.erasures.resolve(other, t.seq, "retraining is not possible on this machine: destroy instead")
    assert cat.erasures.run(other, dry_run=False).status == "done"
    assert cat.erasures.verify(other).clean
    cert = cat.certificate(other)
    verify_any(dump_certificate(cert), [cat.proofs.identity.public_key()])
    assert {m["disposition"] for m in cert["models"]} == {"destroyed"}


def test_a_retrain_target_edited_after_approval_is_refused(world: tuple[disgorge.Catalog, Ensemble]) -> None:
    """An insider with SQL access widens the signed retrain (more members to drop, another model):
    the stored targets no longer hash to the plan id, and nothing runs."""
    from sqlalchemy import select, update

    from disgorge.catalog.schema import ErasureTarget

    cat, ens = world
    pid = plan(cat, subject_in(cat, ens, 1), retrain=("dsisa",))
    approve(cat, pid)
    with cat.store.session() as s:
        row = s.scalars(
            select(ErasureTarget).where(ErasureTarget.plan_id == pid, ErasureTarget.kind == "retrain")
        ).one()
        identity = {**row.identity, "members": [*row.identity["members"], *range(1, 60)]}
        s.execute(update(ErasureTarget).where(ErasureTarget.id == row.id).values(identity=identity))
    with pytest.raises(VerificationFailed, match="stored targets do not match its id"):
        cat.erasures.run(pid, dry_run=False)
    with pytest.raises(disgorge.NotFoundError):
        cat.store.resolve_artifact("dsisa.g1", kind="model")
    assert Path(ens.manifest.workdir, "g0", "aggregate.json").exists()
