"""Reliability: SIGKILL a retrain at several points; running it again continues from the last complete
slice checkpoint (never retraining one), records nothing twice, and ends bit-identical to a fresh
training of the shard. A failed sync records nothing; a torn checkpoint is trained again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Artifact, Run
from disgorge.unlearning import execute_forget, load_ensemble, plan_forget, verify_exact
from tests.unlearning.conftest import subject_assets, trainer

WORKER = """
import sys
import disgorge
from disgorge.unlearning import execute_forget, plan_forget

with disgorge.open(sys.argv[1]) as cat:
    ids = [int(x) for x in sys.argv[3].split(",")]
    print(execute_forget(cat, plan_forget(cat, sys.argv[2], ids)).model)
"""
SLICES = 6


def test_sigkill_mid_retrain_then_resume(dcat: disgorge.Catalog) -> None:
    ens = trainer(dcat, shards=2, slices=SLICES, epochs=60).train()
    place = {m: (sh.shard, sl.slice) for sh in ens.manifest.shards for sl in sh.slices for m in sl.members}
    victim = next(
        ids for i in range(60) if (ids := subject_assets(dcat, f"writer-{i:04d}")) and place[ids[0]][1] == 0
    )  # a subject in slice 0: its whole shard is retrained, six slices
    plan = plan_forget(dcat, ens.model, victim)
    assert plan.shards[0].slices == tuple(range(SLICES))
    shard = plan.shards[0].shard
    gen_dir = Path(ens.manifest.workdir) / f"g1-{plan.id[:12]}" / f"s{shard:02d}"
    home = dcat.home.path
    cmd = [sys.executable, "-c", WORKER, str(home), ens.model, ",".join(map(str, victim))]
    seen: dict[str, tuple[int, int]] = {}
    kills = 0
    for threshold in (1, 3, 5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if len(list(gen_dir.glob("r*.ckpt"))) >= threshold:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.002)
        proc.wait()
        for p in gen_dir.glob("r*.ckpt"):
            st = p.stat()
            seen.setdefault(p.name, (st.st_ino, st.st_mtime_ns))
    assert kills == 3, "the retrain finished before it could be killed; make the slices slower"
    assert 1 <= len(seen) < SLICES
    final = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    assert final.stdout.strip() == "dsisa.g1"
    for name, ident in seen.items():  # completed slices were taken up, not trained again
        st = (gen_dir / name).stat()
        assert (st.st_ino, st.st_mtime_ns) == ident
    with disgorge.open(home) as cat:
        _, manifest, _ = load_ensemble(cat.store, "dsisa.g1")
        assert [sl.checkpoint["name"] for sl in manifest.shards[shard].slices] == [
            f"dsisa.g1.s{shard:02d}.r{r:02d}" for r in range(SLICES)
        ]
        with cat.store.session() as s:
            runs = s.scalar(select(func.count()).select_from(Run).where(Run.name == f"dsisa.g1.s{shard:02d}"))
            ckpts = s.scalar(
                select(func.count())
                .select_from(Artifact)
                .where(Artifact.name.like(f"dsisa.g1.s{shard:02d}.r%"))
            )
            status = s.scalar(select(Run.status).where(Run.name == f"dsisa.g1.s{shard:02d}"))
        assert (runs, ckpts, status) == (1, SLICES, "finished")
        report = verify_exact(cat, "dsisa.g1")
        assert report.ok, report.to_json()


def test_a_failed_sync_records_nothing_and_a_torn_checkpoint_is_trained_again(
    dcat: disgorge.Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are synced together before the one transaction that records the generation: if syncing
    fails, the catalog holds nothing of it; a checkpoint a power loss left torn is trained again."""
    import disgorge.unlearning.generation as generation

    ens = trainer(dcat, shards=2, slices=3, epochs=2).train()
    place = {m: (sh.shard, sl.slice) for sh in ens.manifest.shards for sl in sh.slices for m in sl.members}
    victim = next(
        ids for i in range(60) if (ids := subject_assets(dcat, f"writer-{i:04d}")) and place[ids[0]][1] == 0
    )
    plan = plan_forget(dcat, ens.model, victim)
    shard = plan.shards[0].shard

    def disk_full(paths: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generation, "sync_paths", disk_full)
    with pytest.raises(OSError, match="No space left"):
        execute_forget(dcat, plan)
    monkeypatch.undo()
    with dcat.store.session() as s:
        recorded = s.scalars(select(Artifact.name).where(Artifact.name.like("dsisa.g1%"))).all()
    assert recorded == []
    assert dcat.store.get_run(f"dsisa.g1.s{shard:02d}").status == "failed"
    gen_dir = Path(ens.manifest.workdir) / f"g1-{plan.id[:12]}" / f"s{shard:02d}"
    first = (gen_dir / "r00.ckpt").stat()
    torn = gen_dir / "r01.ckpt"
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    result = execute_forget(dcat, plan)
    assert (gen_dir / "r00.ckpt").stat().st_mtime_ns == first.st_mtime_ns  # taken up, not retrained
    assert dcat.store.get_run(f"dsisa.g1.s{shard:02d}").status == "finished"
    ckpts = [sl.checkpoint["name"] for sl in result.manifest.shards[shard].slices]
    assert ckpts == [f"dsisa.g1.s{shard:02d}.r{r:02d}" for r in range(3)]
    assert verify_exact(dcat, result.model).ok
