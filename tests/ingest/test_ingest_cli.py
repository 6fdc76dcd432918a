"""``disgorge ingest`` as a person runs it (issue 9, items 3, 6, 7 and 8): from a working directory,
relative paths, DISGORGE_HOME in the environment, output piped."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

import disgorge
from disgorge.catalog.schema import LedgerEntry
from disgorge.cli import main
from tests.as_a_person import dg, dg_json, dg_process, new_home
from tests.conftest import ASSETS, write_photo

CRASHER = ASSETS / "fuzz" / "image" / "iptc-illegal-field-length.jpg"


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    new_home(tmp_path)
    return tmp_path


def asset_count(cwd: Path) -> int:
    with disgorge.open(cwd / "home") as cat:
        return cat.store.asset_count()


def codes(out: dict[str, object]) -> dict[str, str]:
    return {Path(p["path"]).name: p["code"] for p in out["problems"]}  # type: ignore[attr-defined]


# Item 3: no input crashes a command.


def test_the_iptc_crasher_is_one_files_problem(cwd: Path) -> None:
    write_photo(cwd / "photos" / "alice" / "a.jpg", "alice", 1)
    shutil.copy(CRASHER, cwd / "photos" / "alice" / "random.jpg")
    proc = dg_process(cwd, "ingest", "photos", "--source", "site", "--subject-from", "parent-dir")
    assert proc.returncode == 2
    assert "1 new assets" in proc.stdout and "random.jpg" in proc.stderr
    assert asset_count(cwd) == 1


def test_many_crashers_among_photos_on_two_workers_lose_no_photo(cwd: Path) -> None:
    """The run that registered 1,000, 2,500 or 0 depending on where the crasher fell."""
    rng = random.Random(5)
    crashers = sorted((ASSETS / "fuzz" / "image").iterdir())
    for n in range(40):
        write_photo(cwd / "photos" / f"s{n % 4}" / f"p{n}.jpg", f"s{n % 4}", n)
    for n in range(0, 40, 3):
        shutil.copy(rng.choice(crashers), cwd / "photos" / f"s{n % 4}" / f"bad{n}.jpg")
    out = dg_json(
        cwd,
        "ingest",
        "photos",
        "--source",
        "site",
        "--subject-from",
        "parent-dir",
        "--workers",
        "2",
        status=2,
    )
    assert out["new_assets"] == 40
    assert set(codes(out)) == {f"bad{n}.jpg" for n in range(0, 40, 3)}


def _killing(real):  # type: ignore[no-untyped-def]
    def hash_variants(data: bytes, **kw: object) -> object:
        if data.startswith(b"KILL"):
            os._exit(13)  # what a segfaulting codec or the OOM killer does to a worker
        return real(data, **kw)

    return hash_variants


def test_a_worker_that_dies_costs_only_its_file(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault injection at the process boundary: a file whose decoding kills its worker process."""
    import disgorge.ingest.pipeline as pipeline

    for n in range(30):
        write_photo(cwd / "photos" / f"s{n % 3}" / f"p{n:02d}.jpg", f"s{n % 3}", n)
    (cwd / "photos" / "s1" / "p10-kill.jpg").write_bytes(b"KILL" + bytes(100))
    monkeypatch.setattr(pipeline, "hash_variants", _killing(pipeline.hash_variants))
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DISGORGE_HOME", "home")
    code = main(["ingest", "photos", "--source", "site", "--subject-from", "parent-dir", "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "30 new assets" in out
    assert "unreadable" in err and "p10-kill.jpg" in err and "BrokenProcessPool" in err
    assert asset_count(cwd) == 30


def test_a_worker_that_dies_during_a_scan_costs_only_its_file(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scan_mod = importlib.import_module("disgorge.scan.scan")  # the package re-exports a scan() function

    for n in range(20):
        write_photo(cwd / "backups" / f"p{n:02d}.jpg", "s", n)
    (cwd / "backups" / "p05-kill.jpg").write_bytes(b"KILL" + bytes(100))
    monkeypatch.setattr(scan_mod, "hash_variants", _killing(scan_mod.hash_variants))
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DISGORGE_HOME", "home")
    assert main(["scan", str(cwd / "backups"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scanned"] == 21
    assert [Path(p["object"]).name for p in report["problems"]] == ["p05-kill.jpg"]
    assert "BrokenProcessPool" in report["problems"][0]["problem"]


# Item 6: nothing under PATH goes unseen.


def test_files_the_manifest_does_not_list_are_reported(cwd: Path) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    shutil.copy(ASSETS / "ingest" / "jpeg-truncated-at-half.jpg", cwd / "photos" / "truncated.jpg")
    (cwd / "photos" / "sub").mkdir()
    shutil.copy(
        ASSETS / "ingest" / "png-decompression-bomb-100000x100000.png", cwd / "photos" / "sub" / "bomb.png"
    )
    (cwd / "photos" / "manifest.csv").write_text("path,subject_id\na.jpg,alice\n")
    proc = dg_process(cwd, "ingest", "photos", "--source", "site", "--manifest", "photos/manifest.csv")
    assert proc.returncode == 2
    assert "not_in_manifest" in proc.stderr and "truncated.jpg" in proc.stderr and "bomb.png" in proc.stderr
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "photos/manifest.csv", status=2)
    assert codes(out) == {"truncated.jpg": "not_in_manifest", "bomb.png": "not_in_manifest"}
    assert asset_count(cwd) == 1


def test_a_manifest_listing_everything_exits_0(cwd: Path) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,alice\n")
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert out["problems"] == [] and out["new_assets"] == 1


# Item 7: subject attribution cannot be lost silently.


def test_a_plain_folder_needs_a_subject_choice(cwd: Path) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    proc = dg_process(cwd, "ingest", "photos", "--source", "site")
    assert proc.returncode == 2
    assert "nothing says whose photos these are" in proc.stderr and "--no-subject" in proc.stderr
    assert asset_count(cwd) == 0
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--no-subject")
    assert out["new_assets"] == 1 and out["unknown_subject"] == 1


@pytest.mark.parametrize(
    ("manifest", "lines"),
    [("path\na.jpg\nb.jpg\n", "lines 2, 3"), ("path,subject_id\na.jpg,alice\nb.jpg,\n", "lines 3")],
    ids=["no-subject-column", "empty-subject"],
)
def test_rows_without_a_subject_are_refused_naming_the_lines(cwd: Path, manifest: str, lines: str) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    write_photo(cwd / "photos" / "b.jpg", "bob", 2)
    (cwd / "m.csv").write_text(manifest)
    proc = dg(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert proc.returncode == 2 and lines in proc.stderr and "--no-subject" in proc.stderr
    assert asset_count(cwd) == 0
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv", "--no-subject")
    assert out["new_assets"] == 2 and out["unknown_subject"] == (2 if "subject_id" not in manifest else 1)


def test_impact_and_erase_plan_count_assets_without_a_subject(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import PEOPLE, claim

    PEOPLE["ann"].save(cwd / "ann.identity")  # plans are signed: ann claims the catalog
    monkeypatch.setenv("DISGORGE_IDENTITY", str(cwd / "ann.identity"))
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    write_photo(cwd / "photos" / "b.jpg", "bob", 2)
    write_photo(cwd / "photos" / "c.jpg", "carol", 3)
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,alice\nb.jpg,\nc.jpg,\n")
    dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv", "--no-subject")
    for scope in (("--source", "site"), ("--subject", "alice")):
        out = dg_json(cwd, "impact", *scope)
        assert out["unknown_subject_assets"] == 2 and out["unknown_subject_by_source"] == {"site": 2}
    proc = dg(cwd, "impact", "--subject", "alice")
    assert "2 assets of source site have no known subject" in proc.stdout
    plan = dg_json(
        cwd, "erase", "plan", "--subject", "alice", "--reason", "request", "--legal-basis", "GDPR 17"
    )
    assert plan["unknown_subject_assets"] == 2
    proc = dg(cwd, "erase", "plan", "--subject", "alice", "--reason", "request", "--legal-basis", "GDPR 17")
    assert "2 assets of source site have no known subject" in proc.stdout
    proc = dg(cwd, "impact", "--subject", "dave")
    assert proc.returncode == 2 and "2 assets in the catalog have no known subject" in proc.stderr


def test_one_path_listed_twice_is_refused_naming_both_lines(cwd: Path) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,alice\na.jpg,bob\n")
    proc = dg(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert proc.returncode == 2 and "lines 2 and 3 both list" in proc.stderr
    assert asset_count(cwd) == 0


def test_the_same_content_given_two_subjects_is_a_conflict_naming_both_lines(cwd: Path) -> None:
    a = write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    shutil.copy(a, cwd / "photos" / "copy-of-a.jpg")
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,alice\ncopy-of-a.jpg,bob\n")
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv", status=2)
    (problem,) = out["problems"]
    assert problem["code"] == "subject_conflict"
    assert "manifest line 3 and manifest line 2" in problem["reason"]
    assert dg_json(cwd, "impact", "--subject", "alice")["counts"]["assets"] == 1
    assert dg(cwd, "impact", "--subject", "bob").returncode == 2


def test_a_later_manifest_adds_a_missing_subject_and_a_changed_one_is_a_conflict(cwd: Path) -> None:
    a = write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,\n")
    dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv", "--no-subject")
    dg_json(cwd, "dataset", "create", "faces", "--source", "site")
    assert dg_json(cwd, "dataset", "show", "faces")["stats"]["subject_count"] == 0
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,alice\n")
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert out["subjects_added"] == 1 and out["problems"] == []
    assert dg_json(cwd, "impact", "--subject", "alice")["counts"]["assets"] == 1
    assert dg_json(cwd, "dataset", "show", "faces")["stats"]["subject_count"] == 1
    with disgorge.open(cwd / "home") as cat:
        (classes,) = [cat.store.dataset_classes(d.id) for d in cat.store.list_datasets()]
        assert classes is not None and [has for (_, _, has) in classes] == [True]
    (cwd / "m.csv").write_text("path,subject_id\na.jpg,bob\n")
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv", status=2)
    assert [p["code"] for p in out["problems"]] == ["subject_conflict"]
    assert "nothing was changed" in out["problems"][0]["reason"]
    assert "disgorge asset set-subject" in out["problems"][0]["reason"]
    assert dg_json(cwd, "impact", "--subject", "alice")["counts"]["assets"] == 1
    sha = hashlib.sha256(a.read_bytes()).hexdigest()
    proc = dg(cwd, "asset", "set-subject", sha[:12], "--subject", "bob", "--reason", "")
    assert proc.returncode == 2 and "needs a reason" in proc.stderr
    out = dg_json(
        cwd, "asset", "set-subject", sha[:12], "--subject", "bob", "--reason", "manifest v2 corrects v1"
    )
    assert out == {"sha256": sha, "changed": True, "subject": "<pseudonymised>"}
    assert dg_json(cwd, "impact", "--subject", "bob")["counts"]["assets"] == 1
    assert dg_json(cwd, "impact", "--subject", "alice")["counts"]["assets"] == 0
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert out["problems"] == [] and out["unchanged"] == 1
    with disgorge.open(cwd / "home") as cat, cat.store.session() as s:
        entries = [
            e for k, e in s.execute(select(LedgerEntry.kind, LedgerEntry.entry)) if k == "subject_attribution"
        ]
    assert len(entries) == 2
    assert '"by":"ingest"' in entries[0] and '"reason":"manifest v2 corrects v1"' in entries[1]
    assert "alice" not in "".join(entries) and "bob" not in "".join(entries)


# Item 8: validate what is stored.


def test_an_unknown_category_in_a_manifest_is_refused_with_its_line(cwd: Path) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    (cwd / "m.csv").write_text("path,subject_id,categories\na.jpg,alice,user.biometric.face\n")
    proc = dg(cwd, "ingest", "photos", "--source", "site", "--manifest", "m.csv")
    assert proc.returncode == 2
    assert "m.csv:2: unknown data category 'user.biometric.face'" in proc.stderr and "hint" in proc.stderr
    assert asset_count(cwd) == 0


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_manifest_with_a_byte_order_mark_is_read(cwd: Path, suffix: str) -> None:
    write_photo(cwd / "photos" / "a.jpg", "alice", 1)
    text = (
        "path,subject_id\na.jpg,alice\n" if suffix == ".csv" else '{"path": "a.jpg", "subject_id": "alice"}\n'
    )
    (cwd / f"m{suffix}").write_bytes(b"\xef\xbb\xbf" + text.encode())
    out = dg_json(cwd, "ingest", "photos", "--source", "site", "--manifest", f"m{suffix}")
    assert out["new_assets"] == 1 and out["problems"] == []
