"""``disgorge erase plan --retrain`` to ``disgorge unlearning verify --certificate``, through the
``disgorge`` entry point (in this process, and the installed command for planning, executing and
verifying the certificate), from a working directory with relative paths and piped output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import disgorge
from tests.as_a_person import dg, dg_json, dg_process
from tests.conftest import PEOPLE, accept_notices, claim
from tests.unlearning.conftest import load, subject_assets, trainer

pytest.importorskip("torch")


@pytest.fixture
def site(tmp_path: Path, digits_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A working directory: ./home (ann admin, bea approver) with a SISA ensemble on ./digits, and
    ann's and bea's identity files; returns it and a subject to erase (set up through the API:
    training is not what this test is about)."""
    shutil.copytree(digits_dir, tmp_path / "digits")
    PEOPLE["ann"].save(tmp_path / "ann.identity")
    PEOPLE["bea"].save(tmp_path / "bea.identity")
    with disgorge.open(tmp_path / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        load(cat, tmp_path / "digits")
        accept_notices(cat, "lab")
        ens = trainer(cat).train()
        cat.add_storage_root(tmp_path / "digits")
        cat.add_storage_root(cat.home.path / "sisa")
        place = {m: sl.slice for sh in ens.manifest.shards for sl in sh.slices for m in sl.members}
        victim = next(s for i in range(60) if place[subject_assets(cat, s := f"writer-{i:04d}")[0]] > 0)
    monkeypatch.setenv("DISGORGE_IDENTITY", "ann.identity")
    return tmp_path, victim


def test_plan_shows_both_options_then_retrain_is_certified_and_reproduced(
    site: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, victim = site
    order = ("erase", "plan", "--subject", victim, "--reason", "request", "--legal-basis", "GDPR 17")
    r = dg_process(cwd, *order)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "model dsisa (SISA ensemble of 3 shards x 3 slices" in text
    assert "destroy (replacing it is a full retrain: 3 shards, 9 slices" in text
    assert "or retrain (1 shards" in text and "this plan: destroy" in text
    assert "plan with --retrain dsisa" in text

    r = dg(cwd, *order, "--retrain", "nosuch")
    assert r.returncode == 2 and "--retrain nosuch: not a model this erasure affects" in r.stderr
    assert "retrainable here: dsisa" in r.stderr

    doc = dg_json(cwd, *order, "--retrain", "dsisa")
    plan = doc["plan_id"]
    assert doc["counts"]["retrain"] == 1
    assert [(o["model"], o["disposition"]) for o in doc["retrainable"]] == [("dsisa", "retrain")]
    shown = dg(cwd, "erase", "show", plan[:12])
    assert "this plan: retrain" in " ".join(shown.stdout.split())

    monkeypatch.setenv("DISGORGE_IDENTITY", "bea.identity")
    assert dg(cwd, "erase", "approve", plan[:12]).returncode == 0
    monkeypatch.setenv("DISGORGE_IDENTITY", "ann.identity")
    dry = dg_json(cwd, "erase", "run", plan[:12])
    assert {"kind": "retrain", "action": "retrain", "uri": "model:dsisa"} in dry["would_do"]
    r = dg_process(cwd, "erase", "run", plan[:12], "--execute")
    assert r.returncode == 0, r.stderr
    assert dg(cwd, "erase", "verify", plan[:12]).returncode == 0
    r = dg(cwd, "erase", "certificate", plan[:12], "-o", "cert.json")
    assert r.returncode == 0, r.stderr
    (cwd / "log.pub").write_text(dg(cwd, "key", "export-public").stdout)

    r = dg_process(cwd, "certificate", "verify", "cert.json", "--key", "log.pub")
    assert r.returncode == 0, r.stderr
    assert "retrained exactly" in r.stdout
    r = dg(cwd, "unlearning", "verify", "dsisa.g1", "--certificate", "cert.json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "matches" in r.stdout and "bit-identical" in r.stdout

    cert = json.loads((cwd / "cert.json").read_text())
    shard = next(m for m in cert["models"] if m["detail"] and m["detail"].get("role") == "sisa_shard")
    shard["detail"]["new_sha256"] = "0" * 64
    (cwd / "edited.json").write_text(json.dumps(cert))
    r = dg(cwd, "certificate", "verify", "edited.json", "--key", "log.pub")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    agg = next(m for m in cert["models"] if m["detail"] and m["detail"].get("role") == "sisa_aggregate")
    doc_new = json.loads(agg["detail"]["ensemble"]["new"])
    doc_new["shards"][agg["detail"]["shards_retrained"][0]]["sha256"] = "0" * 64
    agg["detail"]["ensemble"]["new"] = json.dumps(doc_new)
    (cwd / "edited.json").write_text(json.dumps(cert))
    r = dg(cwd, "unlearning", "verify", "dsisa.g1", "--certificate", "edited.json")
    assert r.returncode == 1 and "DOES NOT MATCH" in r.stdout
    r = dg(cwd, "unlearning", "verify", "dsisa", "--certificate", "cert.json")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    r = dg(cwd, "unlearning", "verify", "dsisa.g1", "--certificate", "missing.json")
    assert r.returncode == 2 and "certificate missing.json: cannot read it" in r.stderr


def test_retrain_chosen_approved_and_run_through_the_server(
    site: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same choice made through ``disgorge serve``: planned with --retrain by the client, approved
    by a second person, executed as the server's job, and the certificate checked offline here."""
    from disgorge.access.tokens import TokenService
    from tests.server.conftest import LiveServer

    cwd, victim = site
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        service = TokenService(cat.store)
        tokens = {who: service.issue(cat.principal, "t", principal=who)[1] for who in ("ann", "bea")}
    server = LiveServer(cwd, home="home")
    try:
        monkeypatch.setenv("DISGORGE_URL", server.url)
        monkeypatch.setenv("DISGORGE_TOKEN", tokens["ann"])
        order = ("erase", "plan", "--subject", victim, "--reason", "request", "--legal-basis", "GDPR 17")
        r = dg(cwd, *order, "--retrain", "nosuch", home="elsewhere")
        assert r.returncode == 2 and "--retrain nosuch: not a model this erasure affects" in r.stderr
        doc = dg_json(cwd, *order, "--retrain", "dsisa", home="elsewhere")
        plan = doc["plan_id"]
        assert [(o["model"], o["disposition"]) for o in doc["retrainable"]] == [("dsisa", "retrain")]
        monkeypatch.setenv("DISGORGE_IDENTITY", "bea.identity")
        monkeypatch.setenv("DISGORGE_TOKEN", tokens["bea"])
        assert dg(cwd, "erase", "approve", plan[:12], home="elsewhere").returncode == 0
        monkeypatch.setenv("DISGORGE_IDENTITY", "ann.identity")
        monkeypatch.setenv("DISGORGE_TOKEN", tokens["ann"])
        r = dg(cwd, "erase", "run", plan[:12], "--execute", home="elsewhere")
        assert r.returncode == 0, r.stderr
        assert dg(cwd, "erase", "verify", plan[:12], home="elsewhere").returncode == 0
        r = dg(cwd, "erase", "certificate", plan[:12], "-o", "cert.json", home="elsewhere")
        assert r.returncode == 0, r.stderr
    finally:
        server.stop()
    assert not (cwd / "elsewhere").exists()
    monkeypatch.delenv("DISGORGE_URL")
    (cwd / "log.pub").write_text(dg(cwd, "key", "export-public").stdout)
    r = dg(cwd, "certificate", "verify", "cert.json", "--key", "log.pub")
    assert r.returncode == 0 and "retrained exactly" in r.stdout, r.stderr
    r = dg(cwd, "unlearning", "verify", "dsisa.g1", "--certificate", "cert.json")
    assert r.returncode == 0 and "bit-identical" in r.stdout, r.stderr + r.stdout
