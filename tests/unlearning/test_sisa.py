"""SISA training and exact forgetting on real digits: determinism, equality with a fresh training,
erased members gone from every remaining member set, and the catalog's records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Edge, Run
from disgorge.errors import ConflictError, InputError, UsageError, VerificationFailed
from disgorge.unlearning import (
    ForgetPlan,
    Ref,
    SisaEnsemble,
    execute_forget,
    load_ensemble,
    plan_forget,
    verify_exact,
    weight_hash,
)
from tests.unlearning.conftest import subject_assets, trainer


def shard_hashes(cat: disgorge.Catalog, model: str) -> list[str]:
    return [sh.model["sha256"] for sh in load_ensemble(cat.store, model)[1].shards]


def test_same_shards_twice_identical_and_a_changed_seed_differs(
    dcat: disgorge.Catalog, tmp_path: Path
) -> None:
    a = trainer(dcat, "a", seed=3).train()
    b = trainer(dcat, "b", seed=3).train()
    c = trainer(dcat, "c", seed=4).train()
    ha, hb, hc = shard_hashes(dcat, a.model), shard_hashes(dcat, b.model), shard_hashes(dcat, c.model)
    assert ha == hb
    assert not set(ha) & set(hc)
    # the file's sha256 is the weight hash of the state it holds, and every checkpoint agrees too
    for sh in a.manifest.shards:
        path = Path(sh.slices[-1].checkpoint["path"]).with_name("model.safetensors")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sh.model["sha256"]
        assert sh.slices[-1].checkpoint["weights_sha256"] == sh.model["sha256"]
    assert [sl.checkpoint["sha256"] for sh in a.manifest.shards for sl in sh.slices] == [
        sl.checkpoint["sha256"] for sh in b.manifest.shards for sl in sh.slices
    ]


def test_weight_hash_is_canonical_not_torch_save_bytes() -> None:
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 2)
    state = m.state_dict()
    reordered = {k: state[k].clone() for k in reversed(list(state))}
    assert weight_hash(m) == weight_hash(reordered)
    bumped = {k: v.clone() for k, v in state.items()}
    bumped["bias"][0] = torch.nextafter(bumped["bias"][0], torch.tensor(1.0))
    assert weight_hash(bumped) != weight_hash(m)
    as_double = {k: v.double() for k, v in state.items()}
    assert weight_hash(as_double) != weight_hash(m)  # dtype is part of the identity
    reshaped = {"weight": state["weight"].reshape(2, 4).t().contiguous(), "bias": state["bias"]}
    assert weight_hash(reshaped) != weight_hash(m)  # so is the shape


def test_forget_equals_a_fresh_training_without_the_subject(dcat: disgorge.Catalog, tmp_path: Path) -> None:
    ens = trainer(dcat).train()
    gone = subject_assets(dcat, "writer-0007")
    plan = plan_forget(dcat, ens.model, gone)
    assert len(plan.shards) == 1 and plan.erased == tuple(gone)  # a subject sits in one shard
    result = execute_forget(dcat, plan)
    assert result.model == "dsisa.g1"
    # a SISA ensemble trained from the start on the dataset minus the subject is bit-identical
    keep = tmp_path / "keep.txt"
    remaining = sorted(set(dcat.store.members(dcat.store.get_dataset("digits").id)) - set(gone))
    keep.write_text("\n".join(dcat.store.asset(i).sha256 for i in remaining))
    dcat.create_dataset("digits-minus", manifest=keep)
    fresh = trainer(dcat, "fresh", dataset="digits-minus").train()
    assert shard_hashes(dcat, result.model) == shard_hashes(dcat, fresh.model)
    old, new = shard_hashes(dcat, ens.model), shard_hashes(dcat, result.model)
    changed = [i for i, (o, n) in enumerate(zip(old, new, strict=True)) if o != n]
    assert changed == [plan.shards[0].shard]
    report = verify_exact(dcat, result.model)
    assert report.ok and [s["shard"] for s in report.shards] == changed
    assert all(c["match"] for s in report.shards for c in s["checkpoints"])


def test_erased_members_are_in_no_remaining_checkpoint_member_set(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat, slices=4).train()
    gone = subject_assets(dcat, "writer-0003") + subject_assets(dcat, "writer-0031")
    plan = plan_forget(dcat, ens.model, gone)
    old_ckpts = {sl.checkpoint["sha256"]: sl for sh in ens.manifest.shards for sl in sh.slices}
    saw = {sha for sha, sl in old_ckpts.items() if set(gone) & set(dcat.store.members(_ds(dcat, sl).id))}
    assert {c["sha256"] for s in plan.shards for c in s.destroy} == saw
    result = execute_forget(dcat, plan)
    store = dcat.store
    for sh in result.manifest.shards:
        for sl in sh.slices:
            assert not set(gone) & set(sl.members)
            members = store.members(_ds(dcat, sl).id)
            assert not set(gone) & set(members)
            art = store.resolve_artifact(sl.checkpoint["sha256"], kind="checkpoint")
            with store.session() as s:  # the checkpoint is derived from exactly that dataset version
                src = s.scalars(
                    select(Edge.src_id).where(
                        Edge.dst_kind == "artifact", Edge.dst_id == art.id, Edge.relation == "derived_from"
                    )
                ).all()
            assert src == [_ds(dcat, sl).id]
            assert sl.checkpoint["sha256"] not in saw


def _ds(cat: disgorge.Catalog, sl: object) -> disgorge.catalog.DatasetInfo:
    return cat.store.get_dataset(sl.dataset["ref"])  # type: ignore[attr-defined]


def test_batching_retrains_each_affected_shard_once(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat, shards=4, slices=2).train()
    layout = ens.manifest.shards
    place = {m: sh.shard for sh in layout for sl in sh.slices for m in sl.members}
    subjects = [f"writer-{i:04d}" for i in range(60)]
    by_shard: dict[int, list[list[int]]] = {}
    for subj in subjects:
        ids = subject_assets(dcat, subj)
        by_shard.setdefault(place[ids[0]], []).append(ids)
    shard_a, shard_b = sorted(by_shard)[:2]
    pending = [*by_shard[shard_a][:2], by_shard[shard_b][0]]  # three requests, two shards
    union = {i for ids in pending for i in ids}
    plan = plan_forget(dcat, ens.model, union | {10**9})
    assert [s.shard for s in plan.shards] == [shard_a, shard_b]
    assert plan.not_members == 1
    assert plan.cost["shards"] == 2 and plan.full_retrain["shards"] == 4
    assert plan.cost["slices"] <= 4 and plan.full_retrain["slices"] == 8
    assert 0 < plan.cost["estimated_seconds"] < plan.full_retrain["estimated_seconds"]
    for s in plan.shards:
        first = s.first_slice
        assert s.restart_from == (None if first == 0 else layout[s.shard].slices[first - 1].checkpoint)
    nothing = plan_forget(dcat, ens.model, [10**9])
    assert nothing.shards == () and nothing.to_json()["disposition"] == "unaffected"


def test_catalog_records_runs_datasets_and_ensemble_links(dcat_any: disgorge.Catalog) -> None:
    cat = dcat_any
    ens = trainer(cat).train()
    store = cat.store
    with store.session() as s:
        runs = sorted(s.scalars(select(Run.name).where(Run.name.like("dsisa.s%"))))
    assert runs == ["dsisa.s00", "dsisa.s01", "dsisa.s02"]
    for sh in ens.manifest.shards:
        assert [sl.dataset["ref"].split("@")[0] for sl in sh.slices] == [
            f"digits.sisa.s{sh.shard:02d}.r{r:02d}" for r in range(3)
        ]
        assert [sl.dataset["members"] for sl in sh.slices] == [
            sum(len(x.members) for x in sh.slices[: r + 1]) for r in range(3)
        ]
    assert sum(sh.member_count for sh in ens.manifest.shards) == 240
    bom = cat.lineage(ens.model)
    links = sorted((p["name"], p["relation"]) for p in bom.parents if p["child"] == ens.model)
    assert links == [(f"dsisa.s{i:02d}", "ensemble_of") for i in range(3)]
    # an erased photo reaches its shard's model, the aggregate, and the checkpoints that saw it, no others
    sh = ens.manifest.shards[1]
    member = sh.slices[1].members[0]
    impact = cat.impact("asset", store.asset(member).sha256)
    models = {m["name"] for m in impact.models}
    assert models == {"dsisa.s01", "dsisa"}
    ckpts = {a["name"] for a in impact.artifacts if a["kind"] == "checkpoint"}
    assert ckpts == {"dsisa.s01.r01", "dsisa.s01.r02"}
    result = execute_forget(cat, plan_forget(cat, ens.model, [member]))
    after = {m["name"] for m in cat.impact("asset", store.asset(member).sha256).models}
    assert after == models  # the new generation never saw it
    new_parents = {p["name"] for p in cat.lineage(result.model).parents if p["relation"] == "ensemble_of"}
    assert new_parents == {"dsisa.s00", "dsisa.g1.s01", "dsisa.s02"}
    assert store.get_run("dsisa.g1.s01").status == "finished"
    assert verify_exact(cat, result.model).ok


def test_aggregate_predicts_by_majority_vote(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat, epochs=20).train()
    model = SisaEnsemble.load(dcat, ens.model)
    assert model.aggregation == "majority_vote" and len(model.models) == 3
    from tests.unlearning.digits import load_digits_tensors

    x, y = load_digits_tensors(range(240, 400))
    accuracy = float((model.predict(x) == y).float().mean())
    assert accuracy > 0.6  # 10 classes: far above chance on digits the shards never saw
    votes = model.shard_outputs(x).argmax(-1)
    unanimous = (votes == votes[0]).all(0)
    assert torch.equal(model.predict(x)[unanimous], votes[0][unanimous])


def test_tampered_restart_checkpoint_is_refused_before_training(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat).train()
    member = ens.manifest.shards[0].slices[2].members[0]
    plan = plan_forget(dcat, ens.model, [member])
    restart = Path(plan.shards[0].restart_from["path"])  # type: ignore[index]
    blob = bytearray(restart.read_bytes())
    blob[len(blob) // 2] ^= 1
    restart.write_bytes(bytes(blob))
    datasets = len(dcat.store.list_datasets())
    with pytest.raises(VerificationFailed, match="no longer matches its recorded sha256"):
        execute_forget(dcat, plan)
    with pytest.raises(NotFoundErrorOrUsage, match=r"not in the catalog|not a SISA"):
        load_ensemble(dcat.store, "dsisa.g1")
    assert len(dcat.store.list_datasets()) == datasets  # refused before anything was recorded
    with pytest.raises(disgorge.NotFoundError):
        dcat.store.get_run("dsisa.g1.s00")


NotFoundErrorOrUsage = (disgorge.NotFoundError, UsageError)


def test_plans_are_checked_before_they_run(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat).train()
    member = ens.manifest.shards[2].slices[0].members[0]
    plan = plan_forget(dcat, ens.model, [member])
    import dataclasses

    assert ForgetPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    stored = plan.to_json()
    stored["shards"][0]["destroy"] = []
    with pytest.raises(InputError, match="does not match its id"):
        ForgetPlan.from_json(stored)
    forged = dataclasses.replace(plan, erased=(), id=plan.id)
    with pytest.raises(InputError, match="altered after it was made"):
        execute_forget(dcat, forged)
    done = execute_forget(dcat, plan)
    assert execute_forget(dcat, plan).model_sha256 == done.model_sha256  # idempotent
    with pytest.raises(ConflictError, match=r"superseded by dsisa\.g1"):
        plan_forget(dcat, ens.model, [member])
    with store_runs(dcat) as count:
        assert count("dsisa.g1.s02") == 1


def store_runs(cat: disgorge.Catalog):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    @contextmanager
    def ctx():  # type: ignore[no-untyped-def]
        with cat.store.session() as s:
            yield lambda name: s.scalar(select(func.count()).select_from(Run).where(Run.name == name))

    return ctx()


def test_non_sisa_models_and_unimportable_recipes_are_refused(dcat: disgorge.Catalog, tmp_path: Path) -> None:
    weights = tmp_path / "plain.bin"
    weights.write_bytes(b"not an ensemble")
    with dcat.run("plain", use="train_ai_system", party="lab", inputs=["dataset:digits"]) as run:
        run.log_model(weights, name="plain")
    with pytest.raises(UsageError, match="'plain' is not a SISA ensemble"):
        plan_forget(dcat, "plain", [1])
    with pytest.raises(InputError, match="not importable by name"):
        Ref.of(lambda: None)
    with pytest.raises(InputError, match="cannot be imported"):
        Ref("no_such_module_here:f").resolve()
    with pytest.raises(InputError, match="shards would hold no member"):
        trainer(dcat, shards=200).train()


def test_training_is_refused_when_the_notice_does_not_cover_it(dcat: disgorge.Catalog) -> None:
    tr = trainer(dcat, "x")
    tr.party = "someone-else"
    with pytest.raises(disgorge.PolicyDenied, match="SISA training 'x' on digits@1"):
        tr.train()
    assert not (dcat.home.path / "sisa" / "x").exists()  # refused before any byte was read
