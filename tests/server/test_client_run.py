"""``cat.run(...)`` and the torch gate through a server: refused by the server's policy exactly as
locally (the same error class and message), before the first byte of a refused dataset is read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import disgorge
from disgorge.errors import InputError, PolicyDenied, UsageError
from tests.conftest import add_training_datasets

from .conftest import Team


@pytest.fixture
def world(team: Team, photos: Path, tmp_path: Path) -> Team:
    """The dating site's photos (operating the service only) and a dataset acme may train on."""
    cat = team.cat
    add_training_datasets(cat, photos, tmp_path)
    return team


def _refusal(cat: object, **run: object) -> str:
    with pytest.raises(PolicyDenied) as info:
        cat.run("train", use="train_ai_system", party="acme", **run)  # type: ignore[attr-defined]
    return info.value.diagnostics()


def test_a_training_script_is_refused_by_the_server_as_locally(world: Team) -> None:
    with disgorge.open(url=world.url, token=world.tokens["eve"]) as remote:
        here = _refusal(world.cat, inputs=["dataset:faces"])
        there = _refusal(remote, inputs=["dataset:faces"])
        assert there.split("decision")[0] == here.split("decision")[0]
        with pytest.raises(UsageError, match=r"\(at=\) is not served"):
            remote.run("train", use="train_ai_system", party="acme", at=datetime.now(UTC))


def test_a_remote_run_records_inputs_and_outputs(world: Team, tmp_path: Path) -> None:
    model = tmp_path / "student.pt"
    model.write_bytes(b"weights")
    with disgorge.open(url=world.url, token=world.tokens["eve"]) as remote:
        with remote.run("train", use="train_ai_system", party="acme", inputs=["dataset:ok"]) as run:
            assert run.decision is not None and run.decision["ok"]
            art = run.log_model(model, name="student")
            with pytest.raises(InputError, match="does not exist"):
                run.log_model(tmp_path / "missing.pt")
            with pytest.raises(PolicyDenied, match="reading faces@1 in run 'train'"):
                run.use_dataset("faces")
        assert run.info.status == "finished"
        assert art.sha256 == world.cat.model("student").sha256
        assert [r["name"] for r in world.cat.lineage("student").to_json()["runs"]] == ["train"]
        with pytest.raises(UsageError, match="is finished"):
            remote.resume_run(run.info.uid)
        with pytest.raises(RuntimeError), remote.run("crash", use="train_ai_system", party="acme") as failed:
            raise RuntimeError("the loss diverged")
        assert failed.info.status == "failed"


def test_the_torch_gate_asks_the_server_before_reading(world: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from disgorge.integrations import torch as integration

    opened: list[str] = []
    real = integration.read_verified

    def spy(sha: str, path: str) -> bytes:
        opened.append(path)
        return real(sha, path)

    monkeypatch.setattr(integration, "read_verified", spy)
    with (
        disgorge.open(url=world.url, token=world.tokens["eve"]) as remote,
        remote.run("train", use="train_ai_system", party="acme") as run,
    ):
        allowed = integration.CatalogDataset(run, "ok")
        assert len(allowed) == 3 and allowed[0].shape[0] == 3
        read_before = list(opened)
        with pytest.raises(PolicyDenied, match="reading faces@1 in run 'train' refused"):
            integration.CatalogIterableDataset(run, "faces")
        assert opened == read_before and all("/mine/" in p for p in opened)
    with world.cat.run("local", use="train_ai_system", party="acme") as local:
        assert integration.CatalogDataset(local, "ok").items == allowed.items
