"""A certificate of destruction end to end: erase, verify, issue, and verify offline through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import disgorge
from disgorge.cli import main
from disgorge.errors import InputError
from disgorge.ingest import IngestOptions
from tests.conftest import PEOPLE, accept_notices, approve


@pytest.fixture
def erased(
    cat: disgorge.Catalog, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[disgorge.Catalog, str]:
    PEOPLE["ann"].save(tmp_path / "ann.identity")
    monkeypatch.setenv("DISGORGE_IDENTITY", str(tmp_path / "ann.identity"))
    monkeypatch.setenv("DISGORGE_CATALOG", cat.store.url)
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    (tmp_path / "m.bin").write_bytes(b"model")
    with cat.run("t", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False) as r:
        r.log_model(tmp_path / "m.bin", name="facenet")
    cat.add_storage_root(tmp_path)
    accept_notices(cat, "acme")
    plan, _ = cat.erasures.plan(
        scope=("subject", "alice"), withdrawn=False, reason="request", legal_basis="GDPR 17"
    )
    with pytest.raises(InputError, match="is planned"):
        cat.certificate(plan.id)
    approve(cat, plan.id)
    cat.erasures.run(plan.id, dry_run=False)
    with pytest.raises(InputError, match="no clean verification"):
        cat.certificate(plan.id)
    assert cat.erasures.verify(plan.id, roots=[str(photos)]).clean
    return cat, plan.id


def test_certificate_verifies_offline(
    erased: tuple[disgorge.Catalog, str], tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat, plan = erased
    home = str(cat.home.path)
    cert, html, key = tmp_path / "cert.json", tmp_path / "cert.html", tmp_path / "key.pub"
    assert main(["erase", "certificate", plan, "-o", str(cert), "--html", str(html), "--home", home]) == 0
    capsys.readouterr()
    assert main(["key", "export-public", "--home", home]) == 0
    key.write_text(capsys.readouterr().out)
    doc = json.loads(cert.read_text())
    assert (
        doc["counts"]["assets"] == 3 and doc["counts"]["models"] == 1 and doc["order"]["approvers"] == ["bea"]
    )
    assert "alice" not in cert.read_text() and "<script" not in html.read_text()
    assert main(["certificate", "verify", str(cert), "--key", str(key), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plan_id"] == plan
    sha = __import__("hashlib").sha256(b"").hexdigest()
    with pytest.raises(disgorge.NotFoundError, match="was not erased by plan"):
        cat.asset_proof(plan, sha)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(cert.read_text().replace('"GDPR 17"', '"GDPR 18"'))
    assert main(["certificate", "verify", str(tampered), "--key", str(key)]) == 1
    other = tmp_path / "other.pub"
    other.write_text("someone+01020304+AQ" + "A" * 42 + "=\n")
    assert main(["certificate", "verify", str(cert), "--key", str(other)]) in (1, 2)


def test_asset_proof_for_an_erased_photo(erased: tuple[disgorge.Catalog, str], tmp_path: Path) -> None:
    cat, plan = erased
    home = str(cat.home.path)
    cert, key, proof = tmp_path / "c.json", tmp_path / "k.pub", tmp_path / "p.json"
    main(["erase", "certificate", plan, "-o", str(cert), "--home", home])
    key.write_text(cat.proofs.identity.public_key() + "\n")
    erased_sha = json.loads(next(e for _, e, _ in cat.store.ledger_entries() if '"erasure_plan"' in e))[
        "plan_id"
    ]
    assert erased_sha == plan
    target = next(t for t in cat.store.targets(plan) if t.kind == "copy")
    assert (
        main(
            [
                "erase",
                "asset-proof",
                plan,
                "--sha256",
                target.identity["sha256"],
                "-o",
                str(proof),
                "--home",
                home,
            ]
        )
        == 0
    )
    assert main(["certificate", "verify", str(cert), "--key", str(key), "--asset-proof", str(proof)]) == 0


def test_identity_checks_and_models_count_every_target(erased: tuple[disgorge.Catalog, str]) -> None:
    """The certificate counts checks from (kind, evidence) and reads only model copies whole: the same
    answer as going through every target."""
    from disgorge.proof.service import _identity_check

    cat, plan = erased
    doc = cat.certificate(plan)
    checks: dict[str, int] = {}
    copies: dict[str, int] = {}
    for t in cat.store.targets(plan):
        check = _identity_check(t.kind, t.evidence or "")
        checks[check] = checks.get(check, 0) + 1
        if t.kind == "model_copy":
            copies[t.identity["sha256"]] = copies.get(t.identity["sha256"], 0) + 1
    assert doc["verification"]["identity_checks"] == checks
    assert {m["sha256"]: m["copies"] for m in doc["models"]} == copies
    assert [m["name"] for m in doc["models"]] == ["facenet"]
    assert sum(checks.values()) == len(list(cat.store.target_refs(plan, column="evidence")))
