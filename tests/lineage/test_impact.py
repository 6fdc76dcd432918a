"""Impact and bill of materials on both backends, and lineage closure as a property."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import disgorge
from disgorge.errors import NotFoundError
from disgorge.ingest import IngestOptions
from disgorge.model import AssetRecord


def _story(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("all", source="site")
    cat.create_dataset("no-alice", from_dataset="all", where="width > 0")  # same members, other name
    manifest = tmp_path / "bob.txt"
    manifest.write_text("\n".join(str(p) for p in sorted((photos / "bob").iterdir())))
    cat.create_dataset("bob-only", manifest=manifest)
    (tmp_path / "m").mkdir()
    for name in ("base", "ft", "student", "int8", "bobnet", "thumb"):
        (tmp_path / "m" / name).write_bytes(name.encode())
    with cat.run("pretrain", enforce=False, use="train_ai_system", party="acme", inputs=["dataset:all"]) as r:
        r.log_model(tmp_path / "m" / "base", name="base")
    with cat.run(
        "finetune",
        enforce=False,
        use="train_ai_system",
        party="beta",
        inputs=["dataset:no-alice", "model:base"],
    ) as r:
        r.log_model(tmp_path / "m" / "ft", name="ft", parents=["base"])
    with cat.run("distill", enforce=False, use="train_ai_system", party="beta", inputs=["model:ft"]) as r:
        r.log_model(tmp_path / "m" / "student", name="student", parents=["ft"], relation="distilled_from")
    with cat.run(
        "quantize", enforce=False, use="train_ai_system", party="gamma", inputs=["model:student"]
    ) as r:
        r.log_model(tmp_path / "m" / "int8", name="int8", parents=["student"], relation="quantized_from")
    with cat.run(
        "bob", enforce=False, use="train_ai_system", party="delta", inputs=["dataset:bob-only"]
    ) as r:
        r.log_model(tmp_path / "m" / "bobnet", name="bobnet")
    alice_photo = cat.store.resolve_asset(
        __import__("hashlib").sha256((photos / "alice" / "p0.jpg").read_bytes()).hexdigest()
    )
    with cat.run("thumbs", use="improve.system", party="site") as r:
        r.log_artifact(
            tmp_path / "m" / "thumb",
            kind="thumbnail",
            derived_from=[f"asset:{cat.store.asset(alice_photo).sha256}"],
        )
    cat.deploy("int8", target="https://api.example/v1/age", hook="takedown.sh")


def test_subject_impact_follows_every_link(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    _story(cat, photos, tmp_path)
    imp = cat.impact("subject", "alice")
    assert imp.counts()["assets"] == 3 and imp.subject_count == 1 and imp.copy_count == 3
    assert {d["ref"]: d["loses"] for d in imp.datasets} == {"all@1": 3, "no-alice@1": 3}
    assert sorted(m["name"] for m in imp.models) == ["base", "ft", "int8", "student"]
    assert [a["kind"] for a in imp.artifacts] == ["thumbnail"]
    assert [d["target"] for d in imp.deployments] == ["https://api.example/v1/age"]
    assert imp.recipients == ["acme", "beta", "gamma", "site"]
    student = next(m for m in imp.models if m["name"] == "student")
    assert [p["relation"] for p in student["parents"]] == ["distilled_from"]


def test_bob_reaches_his_own_model_too(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    _story(cat, photos, tmp_path)
    imp = cat.impact("subject", "bob")
    assert "bobnet" in {m["name"] for m in imp.models}
    assert {d["ref"] for d in imp.datasets} == {"all@1", "no-alice@1", "bob-only@1"}
    carol = cat.impact("subject", "carol")
    assert "bobnet" not in {m["name"] for m in carol.models}


def test_scopes_agree(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    _story(cat, photos, tmp_path)
    by_source = cat.impact("source", "site")
    by_dataset = cat.impact("dataset", "all@1")
    assert by_source.counts() == by_dataset.counts()
    one = cat.impact("asset", cat.store.asset(1).sha256)
    assert one.counts()["assets"] == 1
    with pytest.raises(NotFoundError, match="no asset of this subject"):
        cat.impact("subject", "nobody")


def test_the_few_assets_statement_answers_as_the_general_path(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    """A subject's or an asset's impact comes from one statement; the general path (a predicate over
    assets, a query per part) is the oracle, for every subject and every asset of the story, with an
    asset of no known subject among them."""
    from disgorge.lineage.impact import Impact, Scope, closure_of, scope_assets, unknown_subjects

    _story(cat, photos, tmp_path)
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "x.jpg").write_bytes((photos / "alice" / "p0.jpg").read_bytes() + b"stray")
    cat.ingest(stray, IngestOptions(source="site", workers=1, allow_non_images=True, no_subject=True))
    store = cat.store
    scopes = [Scope("subject", s) for s in ("alice", "bob", "carol")]
    scopes += [Scope("asset", store.asset(i).sha256) for i in sorted(store.source_members(1))]
    for scope in scopes:
        fast = cat.impact(scope.kind, scope.value)
        with store.reading():
            assets, pred = scope_assets(store, scope)
            slow = closure_of(store, Impact(scope, assets), pred)
            slow.unknown_subject_assets = unknown_subjects(store, assets, pred)
        assert fast.to_json() == slow.to_json(), scope
        assert fast.assets == slow.assets


def test_bill_of_materials(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> None:
    _story(cat, photos, tmp_path)
    bom = cat.lineage("int8")
    assert bom.asset_count == 9 and bom.subject_count == 3
    assert {d["ref"] for d in bom.datasets} == {"all@1", "no-alice@1"}
    assert {(p["name"], p["relation"]) for p in bom.parents} >= {
        ("student", "quantized_from"),
        ("ft", "distilled_from"),
        ("base", "fine_tuned_from"),
    }
    assert bom.sources[0]["uses_covered_by_notice"] == {"train_ai_system": False}
    assert bom.categories == ["user.content.self_image"]
    bobnet = cat.lineage(str(tmp_path / "m" / "bobnet"))
    assert bobnet.subject_count == 1 and bobnet.parents == []


# ---- closure as a property: impact equals reachability in the graph we built ----


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, object]:
    n_assets = draw(st.integers(1, 12))
    subjects = [draw(st.integers(0, 3)) for _ in range(n_assets)]
    datasets = [
        sorted(draw(st.sets(st.integers(0, n_assets - 1), min_size=1)))
        for _ in range(draw(st.integers(1, 4)))
    ]
    runs = []
    for m in range(draw(st.integers(1, 8))):
        ds_in = sorted(draw(st.sets(st.integers(0, len(datasets) - 1), max_size=2)))
        model_in = sorted(draw(st.sets(st.integers(0, m - 1), max_size=2))) if m else []
        runs.append((ds_in, model_in))
    return {"subjects": subjects, "datasets": datasets, "runs": runs}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds(), who=st.integers(0, 3))
def test_closure_equals_reachability(
    tmp_path_factory: pytest.TempPathFactory, world: dict[str, object], who: int
) -> None:
    tmp = tmp_path_factory.mktemp("w")
    subjects: list[int] = world["subjects"]  # type: ignore[assignment]
    datasets: list[list[int]] = world["datasets"]  # type: ignore[assignment]
    runs: list[tuple[list[int], list[int]]] = world["runs"]  # type: ignore[assignment]
    with disgorge.open(tmp / "home", catalog_url="sqlite://") as cat:
        src, _ = cat.add_source("s", notice=b"n", uses=["essential.service"])
        recs = [
            AssetRecord(
                sha256=f"{i:064x}",
                size=1,
                media_type="image/jpeg",
                uri=f"file:///a/{i}",
                mtime_ns=0,
                inode=i,
                subject=f"subj-{s}",
            )
            for i, s in enumerate(subjects)
        ]
        cat.store.register(recs, source_id=src.id, notice_id=src.notice_id)
        from pyroaring import BitMap

        for k, members in enumerate(datasets):
            cat.store.create_dataset(f"d{k}", BitMap(m + 1 for m in members))
        for m, (ds_in, model_in) in enumerate(runs):
            path = tmp / f"model{m}"
            path.write_bytes(f"m{m}".encode())
            inputs = [f"dataset:d{d}" for d in ds_in] + [f"model:model{p}" for p in model_in]
            with cat.run(
                f"r{m}", enforce=False, use="train_ai_system", party=f"p{m % 3}", inputs=inputs
            ) as r:
                r.log_model(path, name=f"model{m}", parents=[f"model{p}" for p in model_in])
        mine = {i for i, s in enumerate(subjects) if s == who}
        if not mine:
            with pytest.raises(NotFoundError, match="no asset of this subject"):
                cat.impact("subject", f"subj-{who}")
            return
        hit_ds = {k for k, members in enumerate(datasets) if mine & set(members)}
        hit_models: set[int] = set()
        for m, (ds_in, model_in) in enumerate(runs):  # runs are in topological order
            if hit_ds & set(ds_in) or hit_models & set(model_in):
                hit_models.add(m)
        imp = cat.impact("subject", f"subj-{who}")
        assert {d["name"] for d in imp.datasets} == {f"d{k}" for k in hit_ds}
        assert {m["name"] for m in imp.models} == {f"model{m}" for m in hit_models}
        assert {r["name"] for r in imp.runs} == {f"r{m}" for m in hit_models}
        assert imp.recipients == sorted({f"p{m % 3}" for m in hit_models})
        for d in imp.datasets:
            k = int(d["name"][1:])
            assert d["loses"] == len(mine & set(datasets[k]))
