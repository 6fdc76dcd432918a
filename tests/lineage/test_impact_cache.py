"""What the server keeps in memory across requests (dataset bitmaps and classes, the lineage graph, the
parsed policy) never hides a change: made through the same catalog, or through another catalog opened on
the same database (another process's store: its own engine and caches)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

import disgorge
from disgorge.catalog.schema import Edge
from disgorge.errors import NotFoundError
from disgorge.ingest import IngestOptions
from tests.conftest import accept_notices, approve, as_, write_photo
from tests.erasure.conftest import world  # noqa: F401  (a fixture: photos, models, a deployment)


def _counts(cat: disgorge.Catalog, kind: str, value: str) -> dict[str, int]:
    return cat.impact(kind, value).counts()


@pytest.mark.parametrize("writer", ["same", "other"])
def test_a_cached_impact_sees_new_assets_datasets_runs_and_models(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path, writer: str
) -> None:
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("all", source="site")
    first = cat.impact("subject", "alice")  # fills the caches: bitmaps, graph
    assert first.counts()["assets"] == 3 and [d["ref"] for d in first.datasets] == ["all@1"]
    assert first.runs == [] and first.models == []

    other = as_(cat, "ann") if writer == "other" else cat
    try:
        write_photo(photos / "alice" / "p9.jpg", "alice", 4242)
        other.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        other.create_dataset("all", source="site")  # all@2, with the new photo
        (tmp_path / "model.bin").write_bytes(b"weights")
        with other.run("train", use="essential.service", party="site", inputs=["dataset:all@2"]) as r:
            r.log_model(tmp_path / "model.bin", name="net")
    finally:
        if other is not cat:
            other.close()

    after = cat.impact("subject", "alice")
    assert after.counts()["assets"] == 4
    assert [d["ref"] for d in after.datasets] == ["all@1", "all@2"]
    assert [r["name"] for r in after.runs] == ["train"]
    assert [m["name"] for m in after.models] == ["net"]
    assert _counts(cat, "subject", "bob")["runs"] == 1  # bob is in all@2 as well


def test_an_edge_committed_after_a_newer_one_is_not_skipped(cat: disgorge.Catalog, photos: Path) -> None:
    """Two run starts at once: the one holding the lower edge id commits last. The graph, refreshed in
    between, must still pick its edge up."""
    if cat.store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: its edge ids commit in order")
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    ds, _ = cat.create_dataset("all", source="site")
    early = cat.store.start_run("early", use="essential.service", party="site")
    late = cat.store.start_run("late", use="essential.service", party="site")
    assert cat.impact("dataset", "all").runs == []

    slow = cat.store._sessions()  # a transaction left open: it draws the lower edge id
    slow.begin()
    slow.add(Edge(src_kind="dataset", src_id=ds.id, dst_kind="run", dst_id=early.id, relation="input"))
    slow.flush()
    cat.store.add_run_input(late.id, "dataset", ds.id)  # a higher id, committed first
    assert [r["name"] for r in cat.impact("dataset", "all").runs] == ["late"]
    slow.commit()
    slow.close()
    with cat.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Edge).where(Edge.dst_kind == "run")) == 2
    assert [r["name"] for r in cat.impact("dataset", "all").runs] == ["early", "late"]


def test_an_edge_linked_again_leaves_no_hole_in_the_edge_ids(cat: disgorge.Catalog, photos: Path) -> None:
    """Capture links the same edges again and again (START, then COMPLETE): on PostgreSQL an
    ``ON CONFLICT`` insert would still draw an id for each, and the graph would take every such id for
    an insert in flight and look for it on each refresh."""
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    ds, _ = cat.create_dataset("all", source="site")
    run = cat.store.start_run("train", use="essential.service", party="site")
    edge = ("dataset", ds.id, "run", run.id, "input")
    for _ in range(3):
        with cat.store.session() as s:
            cat.store._link_many(s, [edge, edge])
    other = cat.store.start_run("other", use="essential.service", party="site")
    with cat.store.session() as s:
        cat.store._link_many(s, [edge, ("dataset", ds.id, "run", other.id, "input")])
        ids = sorted(s.scalars(select(Edge.id)))
        graph = cat.store.lineage_graph(s)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert graph.gaps == {}
    assert [r["name"] for r in cat.impact("dataset", "all").runs] == ["other", "train"]


def test_another_catalogs_subject_attribution_reaches_the_gate(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path
) -> None:
    """A dataset's purpose classes (has a subject or not) are cached by the gate; a correction made
    through another catalog on the same database must change the next decision."""
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    loose = tmp_path / "loose"
    write_photo(loose / "x.jpg", "nobody", 777)
    cat.ingest(loose, IngestOptions(source="site", workers=1, no_subject=True))
    cat.create_dataset("all", source="site")
    ds = cat.store.get_dataset("all")
    before = cat.store.dataset_classes(ds.id)
    assert before is not None and any(not has for (_n, _c, has) in before)
    loose_id = next(a for a in cat.store.members(ds.id) if cat.store.asset(a).subject_id is None)
    other = as_(cat, "ann")
    try:
        other.store.set_subject(cat.store.asset(loose_id).sha256, "dora", reason="identified by the site")
    finally:
        other.close()
    after = cat.store.dataset_classes(ds.id)
    assert after is not None and all(has for (_n, _c, has) in after)


def test_an_erased_subject_leaves_the_cached_impact(world: disgorge.Catalog) -> None:  # noqa: F811
    site = world.impact("source", "site")
    assert site.counts()["assets"] == 9
    assert world.impact("subject", "alice").counts()["assets"] == 3
    accept_notices(world, *{r["party"] for r in world.impact("subject", "alice").runs})
    plan, _ = world.erasures.plan(
        scope=("subject", "alice"), withdrawn=False, reason="request #1", legal_basis="GDPR Art. 17"
    )
    approve(world, plan.id)
    report = world.erasures.run(plan.id, dry_run=False)
    assert report.status == "done", report.problems
    assert world.impact("source", "site").counts()["assets"] == 6
    try:
        gone = world.impact("subject", "alice")
    except NotFoundError:
        return
    assert gone.counts()["assets"] == 0 and gone.datasets == [] and gone.runs == []


@pytest.mark.parametrize("writer", ["same", "other"])
def test_the_kept_model_rows_see_every_change_to_artifacts_copies_and_deployments(
    world: disgorge.Catalog,  # noqa: F811
    tmp_path: Path,
    writer: str,
) -> None:
    """An impact report keeps each model's row, copies and deployments between reports. Whatever
    changes them (the API, a takedown, an UPDATE run by hand in SQL, from this catalog or another on
    the same database) moves the trigger-kept stamp, and the next report shows the change."""

    def models() -> dict[str, dict[str, object]]:
        return {m["name"]: m for m in world.impact("subject", "alice").models}

    def deployments() -> list[tuple[str, str]]:
        return [(d["target"], d["state"]) for d in world.impact("subject", "alice").deployments]

    first = models()
    assert sorted(first) == ["base", "ft"] and len(first["ft"]["uris"]) == 1
    assert first["ft"]["parents"] == [{"artifact_id": first["base"]["id"], "relation": "fine_tuned_from"}]
    assert deployments() == [("https://api.example/ft", "live")]
    other = as_(world, "ann") if writer == "other" else world
    try:
        body = b"weights of ft"
        (tmp_path / "ft-copy.bin").write_bytes(body)
        other.store.register_artifact(  # a second copy of ft's bytes, through the API
            kind="model",
            uri=(tmp_path / "ft-copy.bin").as_uri(),
            sha256=hashlib.sha256(body).hexdigest(),
            size=len(body),
        )
        with other.store.session() as s:  # by hand: no ledger event, no API
            s.execute(text("UPDATE artifacts SET name = 'ft-renamed' WHERE name = 'ft'"))
            s.execute(text("UPDATE deployments SET state = 'taken_down'"))
    finally:
        if other is not world:
            other.close()
    after = models()
    assert sorted(after) == ["base", "ft-renamed"]
    assert len(after["ft-renamed"]["uris"]) == 2, after["ft-renamed"]["uris"]
    assert deployments() == [("https://api.example/ft", "taken_down")]
    with world.store.session() as s:
        s.execute(text("DELETE FROM deployments"))
        s.execute(text("DELETE FROM artifact_copies WHERE uri LIKE '%ft-copy.bin'"))
    assert deployments() == []
    assert len(models()["ft-renamed"]["uris"]) == 1
    assert world.impact("source", "site").deployments == []


@pytest.mark.parametrize("writer", ["same", "other"])
def test_the_kept_source_counts_see_new_copies_subjects_and_erasures(
    world: disgorge.Catalog,  # noqa: F811
    photos: Path,
    tmp_path: Path,
    writer: str,
) -> None:
    """A source's subject and copy counts, copies and assets of no known subject are kept between
    reports while no ingest, subject attribution, erasure or source change is appended to the ledger
    (each is, in the transaction that makes it), from this catalog or another on the same database."""
    before = world.impact("source", "site")
    assert before.counts()["assets"] == 9 and before.counts()["copies"] == 9
    assert before.counts()["subjects"] == 3 and before.unknown_subject_assets == {}
    again = world.impact("source", "site")
    assert again.counts() == before.counts() and again.assets is not before.assets
    other = as_(world, "ann") if writer == "other" else world
    try:
        dup = tmp_path / "dup"
        dup.mkdir()
        (dup / "alice-again.jpg").write_bytes(next((photos / "alice").iterdir()).read_bytes())
        loose = tmp_path / "loose"
        write_photo(loose / "x.jpg", "nobody", 777)
        other.ingest(dup, IngestOptions(source="site", workers=1, no_subject=True))  # a second copy
        other.ingest(loose, IngestOptions(source="site", workers=1, no_subject=True))
    finally:
        if other is not world:
            other.close()
    after = world.impact("source", "site")
    assert after.counts()["assets"] == 10 and after.counts()["copies"] == 11
    assert after.unknown_subject_assets == {"site": 1}
    loose_sha = next(a for a in after.assets if world.store.asset(a).subject_id is None)
    world.store.set_subject(world.store.asset(loose_sha).sha256, "dora", reason="identified")
    named = world.impact("source", "site")
    assert named.unknown_subject_assets == {} and named.counts()["subjects"] == 4


def test_warmed_report_rows_give_the_same_report(world: disgorge.Catalog) -> None:  # noqa: F811
    """What a server reads ahead as it starts (Catalog.warm) changes no report."""
    other = as_(world, "ann")
    try:
        cold = other.impact("subject", "alice").to_json()
    finally:
        other.close()
    world.warm()
    assert world.impact("subject", "alice").to_json() == cold
    assert [m["name"] for m in world.impact("subject", "bob").models] == ["base", "bob-only", "ft"]


def test_a_sources_kept_rows_match_the_general_closure(world: disgorge.Catalog) -> None:  # noqa: F811
    """The source path counts subjects and copies its own way (one pass over the rows, two copy
    statements); the answer is the general closure's, copy order and limit included."""
    from disgorge.lineage import impact
    from disgorge.lineage.impact import Impact, Scope, closure_of, scope_assets

    scope = Scope("source", "site")
    for limit in (1000, 4):
        mine = impact(world.store, scope, copy_limit=limit)
        assets, pred = scope_assets(world.store, scope)
        general = closure_of(world.store, Impact(scope, assets), pred, copy_limit=limit)
        assert mine.counts() == general.counts()
        assert mine.copies == general.copies and len(mine.copies) == min(limit, 9)
        assert mine.models == general.models and mine.runs == general.runs
