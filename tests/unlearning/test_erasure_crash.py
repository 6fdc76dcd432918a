"""Reliability: SIGKILL ``disgorge erase run --execute`` while it retrains a SISA shard, at several
points; running it again resumes from the last complete slice checkpoint, nothing is deleted before the
retrain is done, the model is retrained once, and the result is bit-identical to a fresh training."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Artifact, Run
from disgorge.certificate import verify_any
from disgorge.ledger.certificate import dump_certificate
from disgorge.unlearning import verify_exact
from tests.conftest import PEOPLE, accept_notices, approve, claim
from tests.unlearning.conftest import load, subject_assets, trainer

pytest.importorskip("torch")
SLICES = 6


def test_sigkill_during_the_retrain_of_an_erasure_then_resume(tmp_path: Path, digits_dir: Path) -> None:
    shutil.copytree(digits_dir, tmp_path / "data")
    home = tmp_path / "home"
    PEOPLE["ann"].save(tmp_path / "ann.identity")
    with disgorge.open(home, identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        load(cat, tmp_path / "data")
        accept_notices(cat, "lab")
        ens = trainer(cat, shards=2, slices=SLICES, epochs=60).train()
        cat.add_storage_root(tmp_path / "data")
        cat.add_storage_root(home / "sisa")
        place = {
            m: (sh.shard, sl.slice) for sh in ens.manifest.shards for sl in sh.slices for m in sl.members
        }
        victim = next(
            s for i in range(60) if place[subject_assets(cat, s := f"writer-{i:04d}")[0]][1] == 0
        )  # in slice 0: all six slices of its shard are retrained
        victim_files = [tmp_path / "data" / f"{a:04d}.png" for a in range(240)]
        pid = cat.erasures.plan(
            scope=("subject", victim), withdrawn=False, reason="r", legal_basis="b", retrain=("dsisa",)
        )[0].id
        approve(cat, pid)
    workdir = Path(ens.manifest.workdir)
    old_aggregate = workdir / "g0" / "aggregate.json"
    cmd = [sys.executable, "-m", "disgorge", "erase", "run", pid, "--execute", "--home", str(home), "--json"]
    env = {**os.environ, "DISGORGE_IDENTITY": str(tmp_path / "ann.identity")}
    present = {p for p in victim_files if p.exists()}
    seen: dict[str, tuple[int, int]] = {}
    kills = 0
    for threshold in (1, 3, 5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if len(list(workdir.glob("g1-*/s*/r*.ckpt"))) >= threshold:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.002)
        proc.wait()
        for p in workdir.glob("g1-*/s*/r*.ckpt"):
            st = p.stat()
            seen.setdefault(str(p), (st.st_ino, st.st_mtime_ns))
        assert old_aggregate.exists()  # nothing is deleted while the retrain is unfinished
        assert {p for p in victim_files if p.exists()} == present
    assert kills == 3, "the retrain finished before it could be killed; make the slices slower"
    final = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    assert final.returncode == 0, final.stderr[-2000:]
    for name, ident in seen.items():  # completed slices were taken up, not trained again
        st = Path(name).stat()
        assert (st.st_ino, st.st_mtime_ns) == ident
    assert not old_aggregate.exists()
    with disgorge.open(home, identity=PEOPLE["ann"]) as cat:
        assert {t.state for t in cat.store.targets(pid)} == {"done"}
        with cat.store.session() as s:
            runs = s.scalar(select(func.count()).select_from(Run).where(Run.name.like("dsisa.g1.s%")))
            models = s.scalar(select(func.count()).select_from(Artifact).where(Artifact.name == "dsisa.g1"))
        assert (runs, models) == (1, 1)
        assert len(cat.store.find_ledger_entries("model_retrained", pid)) == 1
        assert verify_exact(cat, "dsisa.g1").ok
        assert cat.erasures.verify(pid).clean
        verify_any(dump_certificate(cat.certificate(pid)), [cat.proofs.identity.public_key()])
