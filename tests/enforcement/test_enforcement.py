"""Consent imports and enforcement at every point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyroaring import BitMap
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import ConsentEvent, Decision, Run
from disgorge.enforcement import check_datasets, check_members
from disgorge.errors import InputError, PolicyDenied
from disgorge.ingest import IngestOptions
from disgorge.policy import consent_state, decide
from tests.conftest import ASSETS
from tests.enforcement.conftest import consent_file

CONSENT = ASSETS / "consent"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "consent-bad-timestamp-line-3.csv",
            r"consent-bad-timestamp-line-3.csv:3: timestamp '2024-13-45T00:00:00Z' is not ISO 8601",
        ),
        ("consent-naive-timestamp-line-2.csv", r":2: timestamp .* has no timezone"),
        ("consent-unknown-use-line-2.csv", r":2: unknown data use 'train_ai_systems'"),
        (
            "consent-unknown-subject-line-3.csv",
            r"1 lines name subjects that are not in the catalog \(lines 3\)",
        ),
        ("consent-duplicate-row-line-4.csv", r":4: duplicates line 2"),
        ("consent-wrong-header.csv", "CSV header is 'subject,use,recipient,action,timestamp'"),
        ("consent-unknown-action-line-1.jsonl", r":1: action 'maybe' is neither"),
        ("consent-malformed-json-line-2.jsonl", r":2: not valid JSON"),
    ],
)
def test_malformed_consent_files_import_nothing(world: disgorge.Catalog, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        world.import_consent(CONSENT / name)
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsentEvent)) == 0


def test_consent_import_is_idempotent(world: disgorge.Catalog, tmp_path: Path) -> None:
    f = consent_file(tmp_path, "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n")
    assert world.import_consent(f) == (1, True)
    assert world.import_consent(f) == (0, False)


def test_dating_site_is_refused_at_every_enforcement_point(world: disgorge.Catalog, tmp_path: Path) -> None:
    report = world.check(["faces"], use="train_ai_system", recipient="FaceVision")
    assert not report.ok and len(report.denied) == 9
    assert report.violations[0].reason == "notice_use_not_permitted"
    assert "essential.service" in report.violations[0].clause and len(report.violations[0].sample) == 5
    with world.store.session() as s:
        runs_before = s.scalar(select(func.count()).select_from(Run))
    with pytest.raises(PolicyDenied, match="refused before any data was read: 9 of 9 assets"):
        world.run("face-train", use="train_ai_system", party="FaceVision", inputs=["dataset:faces"])
    dest = tmp_path / "outbox"
    with pytest.raises(PolicyDenied, match="export of faces@1 to 'FaceVision' refused"):
        world.export("faces", to="FaceVision", dest=dest)
    assert not dest.exists()
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == runs_before
        kinds = sorted(s.scalars(select(Decision.kind)))
        assert kinds == ["check", "export", "run"]
        assert all(v == "disgorge-default-1" for v in s.scalars(select(Decision.policy_version)))


def test_consented_research_is_allowed_and_withdrawal_wins(world: disgorge.Catalog, tmp_path: Path) -> None:
    before = world.check(["research"], use="train_ai_system", recipient="acme")
    assert before.by_reason() == {"no_consent_record": 6}
    world.import_consent(
        consent_file(
            tmp_path,
            "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n"
            "bob,train_ai_system,*,granted,2024-05-01T00:00:00Z,1\n",
        )
    )
    ok = world.check(["research"], use="train_ai_system", recipient="acme")
    assert ok.ok and ok.allowed_by == {"allowed_by_consent": 6}
    assert not world.check(
        ["research"], use="train_ai_system", recipient="beta"
    ).ok  # alice granted acme only
    with world.run("research-train", use="train_ai_system", party="acme", inputs=["dataset:research"]) as run:
        (tmp_path / "m.bin").write_bytes(b"m")
        run.log_model(tmp_path / "m.bin", name="research-net")
    assert run.decision is not None and run.decision.ok
    world.import_consent(
        consent_file(tmp_path, "bob,train_ai_system,acme,withdrawn,2025-01-01T00:00:00Z,1\n")
    )
    after = world.check(["research"], use="train_ai_system", recipient="acme")
    assert after.by_reason() == {"consent_withdrawn": 3}
    past = world.check(
        ["research"], use="train_ai_system", recipient="acme", at=datetime(2024, 12, 31, tzinfo=UTC)
    )
    assert past.ok
    reviews = world.review_runs()
    assert [(r.run["name"], [m["name"] for m in r.models]) for r in reviews] == [
        ("research-train", ["research-net"])
    ]


def test_compliant_subset_is_derived_and_recorded(world: disgorge.Catalog, tmp_path: Path) -> None:
    world.import_consent(
        consent_file(tmp_path, "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n")
    )
    with world.run(
        "train", use="train_ai_system", party="acme", inputs=["dataset:research"], compliant_subset=True
    ) as run:
        pass
    assert run.decision is not None and run.decision.ok and len(run.decision.allowed) == 3
    subset = world.store.get_dataset("research--ok-train_ai_system-acme")
    assert subset.member_count == 3 and subset.derived_from == "research@1"
    assert "compliant for train_ai_system by acme" in (subset.query or "")


def test_export_copies_verified_files(world: disgorge.Catalog, tmp_path: Path, photos: Path) -> None:
    world.add_source(
        "site",
        notice=b"we share with partners",
        uses=["essential.service", "third_party_sharing"],
        recipients=["site", "partner"],
    )
    # new notice version applies to data collected under it; the faces were collected under v1
    with pytest.raises(PolicyDenied, match="notice_use_not_permitted"):
        world.export("faces", to="partner", dest=tmp_path / "out")
    world.add_source(
        "shared",
        notice=b"shared",
        uses=["third_party_sharing"],
        recipients=["partner"],
        categories=["user.content.self_image"],
    )
    src = tmp_path / "shared"
    (src / "x").mkdir(parents=True)
    (src / "x" / "a.jpg").write_bytes((photos / "alice" / "p0.jpg").read_bytes() + b"shared")
    (src / "x" / "b.jpg").write_bytes((photos / "bob" / "p0.jpg").read_bytes() + b"shared")
    world.ingest(
        src, IngestOptions(source="shared", subject_from="parent-dir", workers=1, allow_non_images=True)
    )
    world.create_dataset("shared", source="shared")
    (src / "x" / "b.jpg").write_bytes(b"swapped on disk")
    _, result = world.export("shared", to="partner", dest=tmp_path / "out")
    assert result.files == 1 and len(result.refused) == 1 and "content changed" in result.refused[0]["reason"]
    manifest = (tmp_path / "out" / "MANIFEST.sha256").read_text().split()
    assert len(manifest) == 2 and (tmp_path / "out" / manifest[1]).exists()


def test_set_algebra_equals_per_asset_evaluation(world: disgorge.Catalog, tmp_path: Path) -> None:
    world.import_consent(
        consent_file(
            tmp_path,
            "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n"
            "bob,train_ai_system,acme,withdrawn,2024-06-01T00:00:00Z,1\n",
        )
    )
    everything = BitMap(range(1, world.store.asset_count() + 1))
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for use, recipient in (
        ("train_ai_system", "acme"),
        ("essential.service", "site"),
        ("third_party_sharing", "x"),
    ):
        fast = check_members(
            world.store, everything, use=use, recipient=recipient, policy=world.policy, at=at
        )
        events = world.store.consent_events(at)
        notices = world.store.provenance_by_notice()
        slow_allowed = set()
        for aid in everything:
            a = world.store.asset(aid)
            with world.store.session() as s:
                from disgorge.catalog.schema import Asset

                row = s.get(Asset, aid)
                assert row is not None
                base = notices[row.notice_id][0]
            from disgorge.policy import Provenance, Request

            prov = Provenance(
                base.source,
                base.notice_version,
                base.notice_uses,
                base.notice_recipients,
                base.legal_basis,
                a.categories,
            )
            state = consent_state(events.get(a.subject_id or -1, []), use, recipient, at)
            if decide(prov, a.subject_id is not None, state, Request(use, recipient), world.policy).allowed:
                slow_allowed.add(aid)
        assert set(fast.allowed) == slow_allowed
        assert set(fast.denied) == set(everything) - slow_allowed
        by_classes = check_datasets(
            world.store,
            [world.store.get_dataset(d) for d in ("faces", "research")],
            use=use,
            recipient=recipient,
            policy=world.policy,
            at=at,
        )
        assert by_classes.allowed == fast.allowed and by_classes.denied == fast.denied
        assert by_classes.by_reason() == fast.by_reason()


def test_cli_check_exit_codes(
    world: disgorge.Catalog,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from disgorge.cli import main
    from tests.conftest import PEOPLE

    PEOPLE["eve"].save(tmp_path / "eve.identity")  # an engineer checks before training
    monkeypatch.setenv("DISGORGE_IDENTITY", str(tmp_path / "eve.identity"))

    home = str(world.home.path)
    url_env = world.store.url
    import os

    os.environ["DISGORGE_CATALOG"] = url_env
    try:
        capsys.readouterr()
        assert (
            main(
                [
                    "check",
                    "--dataset",
                    "faces",
                    "--use",
                    "train_ai_system",
                    "--recipient",
                    "X",
                    "--home",
                    home,
                    "--json",
                ]
            )
            == 1
        )
        doc = json.loads(capsys.readouterr().out)
        assert doc["denied"] == 9 and doc["violations"][0]["rule"] == "notice:site@v1"
        assert (
            main(
                [
                    "check",
                    "--dataset",
                    "faces",
                    "--use",
                    "essential.service",
                    "--recipient",
                    "site",
                    "--home",
                    home,
                ]
            )
            == 0
        )
        assert main(["check", "--runs", "--home", home, "--json"]) == 0
    finally:
        del os.environ["DISGORGE_CATALOG"]
