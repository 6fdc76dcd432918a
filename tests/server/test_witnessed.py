"""``ledger witness add`` promises that every checkpoint is cosigned, certificates' included: through the
server too. A real witness (``disgorge witness serve``) and a real server on loopback; the witness is
configured by an admin with the CLI, and a checkpoint asked for through the server carries its
cosignature, which verifies offline against the witness's key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from disgorge.ledger.cosignature import verify_cosigned_checkpoint
from tests.as_a_person import dg
from tests.conftest import PEOPLE
from tests.witness.conftest import DISGORGE, Server

from .conftest import Team


def _witness(tmp_path: Path, team: Team) -> tuple[Server, str]:
    done = subprocess.run(
        [DISGORGE, "witness", "init", "--key", "witness.key", "w.example/w1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ident = team.cat.proofs.identity
    return Server(tmp_path, "witness.key", [f"{ident.origin}={ident.public_key()}"]), done.stdout.strip()


def test_a_checkpoint_through_the_server_is_cosigned_by_the_configured_witness(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness, vkey = _witness(tmp_path, team)
    try:
        ann = tmp_path / "ann.identity"
        PEOPLE["ann"].save(ann)
        monkeypatch.setenv("DISGORGE_IDENTITY", str(ann))
        monkeypatch.delenv("DISGORGE_URL", raising=False)
        added = dg(
            tmp_path, "ledger", "witness", "add", witness.url, "--key", vkey, catalog=team.cat.store.url
        )
        assert added.returncode == 0, added.stderr

        monkeypatch.delenv("DISGORGE_IDENTITY", raising=False)
        monkeypatch.setenv("DISGORGE_URL", team.url)
        monkeypatch.setenv("DISGORGE_TOKEN", team.tokens["dan"])
        (tmp_path / "elsewhere").mkdir()
        got = dg(tmp_path / "elsewhere", "ledger", "checkpoint", "--json")
        assert got.returncode == 0, got.stderr
        cp = json.loads(got.stdout)
        assert cp["cosignatures"] == 1
        ident = team.cat.proofs.identity
        verify_cosigned_checkpoint(cp["checkpoint"], ident.origin, [ident.public_key()], [vkey])

        refused = dg(tmp_path / "elsewhere", "ledger", "checkpoint", "--witness", witness.url)
        assert refused.returncode == 2 and "not served by the API" in refused.stderr

        latest = team.client("dan").get("/api/v1/ledger/checkpoint").json()
        assert latest["checkpoint"] == cp["checkpoint"]  # the cosigned note is the one kept
    finally:
        witness.stop()
