"""Several catalog writes in one transaction: ``register_artifacts`` (artifacts, their parent links, the
runs they finish) and ``RunContext.use_datasets`` (inputs with the one decision that allowed them), on
SQLite and PostgreSQL. All of it is recorded or none of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

import disgorge
from disgorge.catalog import NewArtifact, as_uri
from disgorge.catalog.schema import Artifact, ArtifactCopy, Decision, Edge, LedgerEntry
from disgorge.errors import ConflictError, InputError, NotFoundError
from disgorge.hashing.digest import sha256_path
from disgorge.ingest import IngestOptions


def spec(path: Path, kind: str, name: str | None, **kw: object) -> NewArtifact:
    digest, size = sha256_path(path)
    return NewArtifact(kind, as_uri(str(path)), digest, size, name, **kw)  # type: ignore[arg-type]


def counts(cat: disgorge.Catalog) -> tuple[int, int, int, int]:
    with cat.store.session() as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (Artifact, ArtifactCopy, Edge, LedgerEntry)
        )


def files(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for n in names:
        p = tmp_path / n
        p.write_bytes(f"bytes of {n}".encode())
        out.append(p)
    return out


def test_batch_registers_links_and_finishes_runs_together(cat: disgorge.Catalog, tmp_path: Path) -> None:
    run = cat.run("trainer", use="essential.service", party="site")
    (old,) = files(tmp_path, "old.bin")
    with cat.run("earlier", use="essential.service", party="site") as r:
        r.log_model(old, name="base")
    a, b, agg = files(tmp_path, "a.bin", "b.bin", "agg.json")
    before = counts(cat)
    infos = cat.store.register_artifacts(
        [
            spec(a, "model", "m.a", run_id=run.info.id),
            spec(b, "checkpoint", "m.b", parents=(("artifact", "base", "fine_tuned_from"),)),
            spec(
                agg,
                "model",
                "m",
                parents=(("artifact", "m.a", "ensemble_of"), ("artifact", "base", "ensemble_of")),
            ),
        ],
        finish_runs=[run.info.id],
    )
    assert [i.name for i in infos] == ["m.a", "m.b", "m"]
    assert [i.uris for i in infos] == [(as_uri(str(p)),) for p in (a, b, agg)]
    assert cat.store.get_run("trainer").status == "finished"
    after = counts(cat)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (3, 3, 4)
    assert after[3] - before[3] == 3  # one ledger event per new artifact
    parents = {(p["name"], p["relation"]) for p in cat.lineage("m").parents if p["child"] == "m"}
    assert parents == {("m.a", "ensemble_of"), ("base", "ensemble_of")}
    # again: nothing new (artifacts by name, copies by uri, edges are a set), the same answers
    again = cat.store.register_artifacts(
        [spec(a, "model", "m.a", run_id=run.info.id), spec(agg, "model", "m")]
    )
    assert [i.id for i in again] == [infos[0].id, infos[2].id]
    assert counts(cat) == after


def test_batch_is_all_or_nothing_and_names_are_binding(cat: disgorge.Catalog, tmp_path: Path) -> None:
    a, b, c = files(tmp_path, "a.bin", "b.bin", "c.bin")
    cat.store.register_artifacts([spec(a, "model", "first")])
    before = counts(cat)
    with pytest.raises(NotFoundError, match="'nowhere', a parent of 'y'"):
        cat.store.register_artifacts(
            [spec(b, "model", "x"), spec(c, "model", "y", parents=(("artifact", "nowhere", "ensemble_of"),))]
        )
    with pytest.raises(ConflictError, match="already registered as 'first'"):
        cat.store.register_artifacts([spec(b, "model", "x"), spec(a, "model", "second")])
    with pytest.raises(ConflictError, match="'first' already names another model"):
        cat.store.register_artifacts([spec(b, "model", "first")])
    with pytest.raises(InputError, match="not allowed"):
        cat.store.register_artifacts([spec(b, "model", "x", parents=(("artifact", "x", "ensemble_of"),))])
    with pytest.raises(InputError, match="kind 'weights' is unknown"):
        cat.store.register_artifacts([spec(b, "weights", "x")])
    assert counts(cat) == before  # every refused batch left nothing behind
    with pytest.raises(NotFoundError):
        cat.store.resolve_artifact("x")


def test_use_datasets_checks_them_together(cat: disgorge.Catalog, photos: Path) -> None:
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("all", source="site")
    keep = photos / "alice.txt"
    keep.write_text("\n".join(str(p) for p in sorted((photos / "alice").glob("*.jpg"))))
    cat.create_dataset("alice", manifest=keep)
    with cat.run("svc", use="essential.service", party="site") as run:
        infos = run.use_datasets(["all@1", cat.store.get_dataset("alice@1")])
        assert [d.ref for d in infos] == ["all@1", "alice@1"]
        run.use_datasets(["all@1"])  # an input already there is not added twice
    with cat.store.session() as s:
        inputs = s.scalars(
            select(Edge.src_id).where(
                Edge.dst_kind == "run", Edge.dst_id == run.info.id, Edge.relation == "input"
            )
        ).all()
        decisions = s.scalars(select(Decision.inputs).where(Decision.run_id == run.info.id)).all()
    assert sorted(inputs) == sorted(d.id for d in infos)
    assert sorted(decisions[0]) == ["alice@1", "all@1"]
    denied = cat.run("trainer", use="train_ai_system", party="lab")
    with pytest.raises(disgorge.PolicyDenied, match="reading all@1, alice@1 in run 'trainer'"):
        denied.use_datasets(["all@1", "alice@1"])
    with cat.store.session() as s:
        assert not s.scalars(
            select(Edge.id).where(Edge.dst_kind == "run", Edge.dst_id == denied.info.id)
        ).all()
        assert s.scalar(select(Decision.denied).where(Decision.run_id == denied.info.id)) == 9
