"""Replay every kept crasher (``tests/assets/fuzz/<parser>/``) through the commands that read it.

Each file there once made a command die with a traceback. Now each must be that file's problem:
ingest lists it (and registers the good photo beside it), scan reports it, lookup refuses it with exit 2,
the re-ingestion guard screens it, and the other parsers reject theirs with a DisgorgeError.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import disgorge
from disgorge.cli import main
from disgorge.errors import DisgorgeError
from disgorge.ingest import IngestOptions
from disgorge.ledger.certificate import verify_asset_proof, verify_certificate
from tests.as_a_person import dg_json, new_home
from tests.conftest import ASSETS, PEOPLE, approve, claim, write_photo

FUZZ = ASSETS / "fuzz"
IMAGES = sorted((FUZZ / "image").iterdir())
PARSERS = ("manifest", "consent", "policy", "certificate")


def kept(parser: str) -> list[Path]:
    return sorted((FUZZ / parser).iterdir())


@pytest.fixture(autouse=True)
def _as_ann(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands act as ann, the world's admin (the catalog has a roster: its erasure was signed)."""
    monkeypatch.setenv("DISGORGE_IDENTITY", str(world / "ann.identity"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one erased photo (so the guard has tombstones) and the image corpus in ``fuzz/``."""
    cwd = tmp_path_factory.mktemp("corpus")
    new_home(cwd)
    gone = write_photo(cwd / "erased" / "mallory" / "p.jpg", "mallory", 99)
    shutil.copy(gone, cwd / "erased-copy.jpg")
    kept = write_photo(cwd / "kept" / "bob" / "p.jpg", "bob", 98)
    PEOPLE["ann"].save(cwd / "ann.identity")
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        cat.ingest(gone.parent.parent, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        sha = cat.store.asset(1).sha256
        cat.ingest(kept.parent.parent, IngestOptions(source="site", subject_from="parent-dir", workers=1))
        (cwd / "faces.txt").write_text(f"{kept}\n")
        cat.create_dataset("faces", manifest=cwd / "faces.txt")
        cat.add_storage_root(cwd / "erased")
        plan, _ = cat.erasures.plan(
            scope=("asset", sha), withdrawn=False, reason="order", legal_basis="GDPR 17"
        )
        approve(cat, plan.id)
        assert cat.erasures.run(plan.id, dry_run=False).status == "done"
    (cwd / "fuzz").mkdir()
    for f in IMAGES:
        shutil.copy(f, cwd / "fuzz" / f.name)
    write_photo(cwd / "fuzz" / "alice" / "good.jpg", "alice", 1)
    return cwd


def test_the_corpus_is_not_empty() -> None:
    assert len(IMAGES) >= 10
    assert (FUZZ / "image" / "iptc-illegal-field-length.jpg").stat().st_size == 260


def test_ingest_lists_every_crasher_and_registers_the_good_photo(world: Path) -> None:
    for workers in ("1", "2"):
        out = dg_json(
            world,
            "ingest",
            "fuzz",
            "--source",
            "site",
            "--no-subject",
            "--workers",
            workers,
            status=2,
            process=True,
        )
        codes = {Path(p["path"]).name: p["code"] for p in out["problems"]}
        assert set(codes) == {f.name for f in IMAGES}
        assert set(codes.values()) <= {"corrupt_image", "not_an_image"}
        assert out["new_assets"] + out["unchanged"] == 1


def test_the_guard_screens_what_passes_hashing(world: Path) -> None:
    """With --allow-non-images, undecodable files become assets without PDQ: the guard (tombstones
    present) must screen them without failing, and still refuse the erased photo itself."""
    shutil.copy(world / "erased-copy.jpg", world / "fuzz" / "back-again.jpg")
    try:
        out = dg_json(
            world, "ingest", "fuzz", "--source", "site", "--no-subject", "--allow-non-images", status=2
        )
    finally:
        (world / "fuzz" / "back-again.jpg").unlink()
    codes = {Path(p["path"]).name: p["code"] for p in out["problems"]}
    assert codes["back-again.jpg"] == "erased_content"
    assert set(codes.values()) <= {"corrupt_image", "erased_content"}


@pytest.mark.parametrize("against", ["catalog", "erased"])
def test_scan_reports_crashers_and_finishes(world: Path, against: str) -> None:
    # An absolute root: relative scan roots are issue 9 item 2 (fixed beside this).
    out = dg_json(world, "scan", str(world / "fuzz"), "--against", against)
    assert out["scanned"] == len(IMAGES) + 1
    assert {p["problem"] for p in out["problems"]} <= {"corrupt_image", "decompression_bomb"}


@pytest.mark.parametrize("crasher", IMAGES, ids=[f.name for f in IMAGES])
def test_lookup_refuses_each_crasher_with_exit_2(
    world: Path, crasher: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(world)
    monkeypatch.setenv("DISGORGE_HOME", "home")
    assert main(["lookup", str(world / "fuzz" / crasher.name)]) == 2
    assert "error" in capsys.readouterr().err


def test_every_kept_crasher_has_a_replay() -> None:
    assert {p.name for p in FUZZ.iterdir()} == {
        "image",
        "witness",
        "checkpoint",
        *PARSERS,
    }  # witness: tests/witness; checkpoint: tests/unlearning
    assert all(kept(p) for p in PARSERS)


@pytest.fixture
def person(world: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(world)
    monkeypatch.setenv("DISGORGE_HOME", "home")
    return world


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("crasher", kept("manifest"), ids=lambda p: p.name)
def test_manifest_crashers_are_input_errors(
    person: Path, crasher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (person / "mfolder").mkdir(exist_ok=True)
    shutil.copy(crasher, person / "mfolder" / crasher.name)
    before = disgorge.open(person / "home").store.asset_count()
    code, err = run(capsys, "ingest", "mfolder", "--source", "site", "--manifest", f"mfolder/{crasher.name}")
    assert code == 2 and "error" in err and crasher.name in err
    assert disgorge.open(person / "home").store.asset_count() == before


@pytest.mark.parametrize("crasher", kept("consent"), ids=lambda p: p.name)
def test_consent_crashers_are_input_errors(
    person: Path, crasher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(crasher, person / crasher.name)
    code, err = run(capsys, "consent", "import", crasher.name)
    assert code == 2 and "error" in err and crasher.name in err


@pytest.mark.parametrize("crasher", kept("policy"), ids=lambda p: p.name)
def test_policy_crashers_are_input_errors(
    person: Path, crasher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(crasher, person / "home" / "policy.yaml")
    try:
        code, err = run(
            capsys, "check", "--dataset", "faces", "--use", "train_ai_system", "--recipient", "acme"
        )
    finally:
        (person / "home" / "policy.yaml").unlink()
    assert code == 2 and "policy" in err


@pytest.mark.parametrize("crasher", kept("certificate"), ids=lambda p: p.name)
def test_certificate_crashers_fail_verification(
    person: Path, crasher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trusted = ASSETS / "certificates" / "trusted.pub"
    code, err = run(capsys, "certificate", "verify", str(crasher), "--key", str(trusted))
    assert code == 1 and "malformed certificate" in err
    doc = json.loads(crasher.read_bytes())
    proof = json.loads((ASSETS / "certificates" / "asset-proof-good.json").read_bytes())
    for check in (lambda: verify_certificate(doc, []), lambda: verify_asset_proof(doc, proof)):
        with pytest.raises(DisgorgeError, match=r"malformed|trusted"):
            check()
