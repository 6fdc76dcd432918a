"""The gate keeps each (use, recipient)'s consent sets between checks: every change that could alter
them must reach the next decision, in this process or another. The oracle is a catalog opened afresh
(no cache) on the same database, checked after each change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import ANY

import pytest

import disgorge
from disgorge.ingest import IngestOptions
from disgorge.trust import Identity
from tests.conftest import write_photo
from tests.enforcement.conftest import consent_file

USE, TO = "train_ai_system", "acme"


@pytest.fixture
def other(tmp_path: Path, catalog_url: str, people: dict[str, Identity]) -> Iterator[disgorge.Catalog]:
    """The same catalog and home through a second store: another process, as far as caches go."""
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url, identity=people["ann"]) as c:
        yield c


def decision(cat: disgorge.Catalog, at: datetime | None = None) -> tuple[dict[str, int], list[int]]:
    r = cat.check(["research"], use=USE, recipient=TO, at=at, record=False)
    return r.by_reason(), sorted(r.allowed)


def fresh(tmp_path: Path, catalog_url: str, ann: Identity, at: datetime | None = None) -> object:
    with disgorge.open(tmp_path / "home", catalog_url=catalog_url, identity=ann) as c:
        return decision(c, at)


def test_an_import_through_another_store_reaches_the_cached_sets(
    world: disgorge.Catalog, other: disgorge.Catalog, tmp_path: Path
) -> None:
    assert decision(world) == ({"no_consent_record": 6}, [])  # the sets are cached now
    other.import_consent(consent_file(tmp_path, f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\n"))
    reasons, allowed = decision(world)
    assert reasons == {"no_consent_record": 3} and len(allowed) == 3


def test_new_assets_of_a_subject_with_consent_are_in_the_sets(
    world: disgorge.Catalog, tmp_path: Path, photos: Path, catalog_url: str, people: dict[str, Identity]
) -> None:
    world.import_consent(
        consent_file(
            tmp_path,
            f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\nbob,{USE},{TO},withdrawn,2024-05-01T00:00:00Z,1\n",
        )
    )
    assert decision(world)[0] == {"consent_withdrawn": 3}
    research = photos.parent / "research"
    write_photo(research / "alice" / "new.jpg", "alice", 90)
    write_photo(research / "bob" / "new.jpg", "bob", 91)
    world.ingest(research, IngestOptions(source="research", subject_from="parent-dir", workers=1))
    world.create_dataset("research", source="research")  # version 2, with both new photos
    got = decision(world)
    assert got == fresh(tmp_path, catalog_url, people["ann"])
    assert got[0] == {"consent_withdrawn": 4} and len(got[1]) == 4


def test_a_subject_correction_moves_an_asset_between_sets(
    world: disgorge.Catalog,
    other: disgorge.Catalog,
    tmp_path: Path,
    catalog_url: str,
    people: dict[str, Identity],
) -> None:
    world.import_consent(
        consent_file(
            tmp_path,
            f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\nbob,{USE},{TO},withdrawn,2024-05-01T00:00:00Z,1\n",
        )
    )
    reasons, allowed = decision(world)
    assert reasons == {"consent_withdrawn": 3} and len(allowed) == 3
    moved = world.store.asset(allowed[0]).sha256
    other.store.set_subject(moved, "bob", reason="the photo is of bob")
    got = decision(world)
    assert got == fresh(tmp_path, catalog_url, people["ann"])
    assert got[0] == {"consent_withdrawn": 4} and len(got[1]) == 2


def test_a_check_as_of_an_earlier_time_is_not_answered_from_the_sets_of_now(
    world: disgorge.Catalog, tmp_path: Path, catalog_url: str, people: dict[str, Identity]
) -> None:
    world.import_consent(
        consent_file(
            tmp_path,
            f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\nalice,{USE},{TO},withdrawn,2025-01-01T00:00:00Z,1\n",
        )
    )
    assert decision(world)[0] == {"consent_withdrawn": 3, "no_consent_record": 3}  # cached as of now
    then = datetime(2024, 12, 31, tzinfo=UTC)
    past = decision(world, then)
    assert past == fresh(tmp_path, catalog_url, people["ann"], then)
    assert past[0] == {"no_consent_record": 3} and len(past[1]) == 3
    assert decision(world)[0] == {"consent_withdrawn": 3, "no_consent_record": 3}


def test_a_policy_set_through_another_store_decides_the_next_check(
    world: disgorge.Catalog, other: disgorge.Catalog, tmp_path: Path
) -> None:
    world.import_consent(consent_file(tmp_path, f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\n"))
    assert len(decision(world)[1]) == 3 and world.policy.version == "disgorge-default-1"  # cached now
    strict = tmp_path / "policy.yaml"
    strict.write_text(
        "version: no-training-1\nrules:\n"
        "  - name: no-training\n    effect: deny\n    data_uses: {any: [train_ai_system]}\n"
    )
    other.set_policy(strict)
    assert world.policy.version == "no-training-1"
    reasons, allowed = decision(world)
    assert allowed == [] and sum(reasons.values()) == 6


def test_a_new_notice_through_another_store_decides_the_next_check(
    world: disgorge.Catalog, other: disgorge.Catalog, tmp_path: Path
) -> None:
    world.import_consent(consent_file(tmp_path, f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\n"))
    assert len(decision(world)[1]) == 3  # the notices are cached now
    other.add_source(  # the research notice stops naming acme: new members fall under version 2
        "research",
        notice=b"consent to train, for beta only",
        uses=["train_ai_system"],
        recipients=["beta"],
        categories=["user.content.self_image"],
        legal_basis="consent",
    )
    seen = sorted((p.source, p.notice_version) for p, _ in world.store.provenance_by_notice().values())
    assert seen == [("research", 1), ("research", 2), ("site", 1)]


def test_warming_prepares_the_newest_runs_checks_and_changes_no_answer(
    world: disgorge.Catalog,
    other: disgorge.Catalog,
    tmp_path: Path,
    catalog_url: str,
    people: dict[str, Identity],
) -> None:
    """What a server builds as it starts (``Catalog.warm``): the gate's sets and kept decision for the
    datasets, use and party of the newest runs, recording nothing; the next check is answered from
    them, as a catalog opened afresh would answer it, and a later import still reaches it."""
    world.import_consent(consent_file(tmp_path, f"alice,{USE},{TO},granted,2024-05-01T00:00:00Z,1\n"))
    world.run("earlier", use=USE, party=TO, inputs=["dataset:research"], enforce=False)
    decisions = len(other.store.decisions())
    assert "_consent_sets" not in other.store.__dict__
    assert other.warm() == 1
    assert (USE, TO) in other.store.__dict__["_consent_sets"]
    assert len(other.store.__dict__["_checks"]) == 1
    assert len(other.store.decisions()) == decisions  # warming records no decision
    assert decision(other) == fresh(tmp_path, catalog_url, people["ann"]) == ({"no_consent_record": 3}, ANY)
    world.import_consent(consent_file(tmp_path, f"bob,{USE},{TO},granted,2024-05-01T00:00:00Z,1\n"))
    assert decision(other) == ({}, decision(world)[1])
    assert other.warm() == 1  # again at any time: the stamps decide
