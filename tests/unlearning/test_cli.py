"""``disgorge unlearning verify`` through the real entry point, from a working directory with the
default home, as a person runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyroaring import BitMap

import disgorge
from disgorge.unlearning import execute_forget, load_ensemble, plan_forget
from disgorge.unlearning.layout import ensemble_document
from tests.unlearning.conftest import load, subject_assets, trainer

DISGORGE = str(Path(sys.executable).with_name("disgorge"))


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DISGORGE, *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture
def site(tmp_path: Path, digits_dir: Path) -> Path:
    """A working directory whose ./.disgorge holds an ensemble after one forget (dsisa.g1)."""
    with disgorge.open(tmp_path / ".disgorge") as cat:
        load(cat, digits_dir)
        ens = trainer(cat).train()
        execute_forget(cat, plan_forget(cat, ens.model, subject_assets(cat, "writer-0012")))
    return tmp_path


def test_verify_reproduces_the_retrain_bit_for_bit(site: Path) -> None:
    res = cli(site, "unlearning", "verify", "dsisa.g1", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["generation"] == 1 and len(doc["shards"]) == 1
    shard = doc["shards"][0]
    assert shard["recorded_sha256"] == shard["reproduced_sha256"]
    assert doc["environment"]["differences"] == []
    human = cli(site, "unlearning", "verify", "dsisa.g1", "--all-shards")
    assert human.returncode == 0, human.stderr
    assert human.stdout.count(": identical") == 3 and "bit-identical" in human.stdout


def test_an_ensemble_that_claims_a_forget_it_did_not_do_fails(site: Path) -> None:
    """A forger drops a member from the manifest (with honest-looking new datasets and digests) but keeps
    the shard model that was trained on it: replaying from the claimed members gives other weights."""
    with disgorge.open(site / ".disgorge") as cat:
        _, manifest, sha = load_ensemble(cat.store, "dsisa")
        sh = manifest.shards[0]
        dropped = sh.slices[0].members.pop(0)
        for sl in sh.slices:
            ds = cat.store.get_dataset(sl.dataset["ref"])
            new, _ = cat.store.create_dataset(ds.name, cat.store.members(ds.id) - BitMap([dropped]))
            sl.dataset = {"ref": new.ref, "digest": new.digest, "members": new.member_count}
        from disgorge.unlearning.layout import own_digest

        sh.slices[0].member_digest = own_digest(cat.store, sh.slices[0].members)
        manifest.model = "forged"
        (site / "forged.manifest.json").write_bytes(manifest.to_bytes())
        man = cat.register_artifact(site / "forged.manifest.json", kind="report")
        (site / "forged.json").write_bytes(ensemble_document(manifest, man.sha256))
        cat.register_artifact(site / "forged.json", kind="model", name="forged")
        del sha
    res = cli(site, "unlearning", "verify", "forged", "--shard", "0", "--json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    assert doc["shards"][0]["match"] is False
    assert all(m["match"] for m in doc["member_sets"])  # the member sets were forged consistently
    human = cli(site, "unlearning", "verify", "forged", "--shard", "0")
    assert human.returncode == 1 and "NOT bit-identical" in human.stdout and "DIFFERENT" in human.stdout


def test_a_manifest_edited_on_disk_is_refused(site: Path) -> None:
    with disgorge.open(site / ".disgorge") as cat:
        man = cat.store.resolve_artifact("dsisa.g1.manifest")
    path = Path(man.uris[0].removeprefix("file://"))
    path.write_bytes(path.read_bytes().replace(b'"epochs":2', b'"epochs":3'))
    res = cli(site, "unlearning", "verify", "dsisa.g1")
    assert res.returncode == 1
    assert "no longer matches its registered sha256" in res.stderr and "Traceback" not in res.stderr


def test_bad_requests_exit_2_with_what_to_do(site: Path) -> None:
    (site / "plain.bin").write_bytes(b"weights")
    rec = cli(
        site,
        "run",
        "record",
        "--name",
        "p",
        "--use",
        "train_ai_system",
        "--party",
        "lab",
        "--output",
        "model:plain=plain.bin",
    )
    assert rec.returncode == 0, rec.stderr
    for args, message in [
        (("plain", "--json"), "'plain' is not a SISA ensemble"),
        (("nope",), "model 'nope' is not in the catalog"),
        (("dsisa.g1", "--shard", "9"), "shard 9 is not in dsisa.g1"),
        (("dsisa.g1", "--shard", "1", "--all-shards"), "give one of --shard, --all-shards or --certificate"),
    ]:
        res = cli(site, "unlearning", "verify", *args)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr and "Traceback" not in res.stderr
        if "--json" in args:
            assert json.loads(res.stdout)["error"] == "disgorge.usage"
