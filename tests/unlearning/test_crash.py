"""Reliability: SIGKILL a retrain at several points; running it again continues from the last complete
slice checkpoint (never retraining one), records nothing twice, and ends bit-identical to a fresh
training of the shard."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

import disgorge
from disgorge.catalog.schema import Artifact, Run
from disgorge.unlearning import load_ensemble, plan_forget, verify_exact
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
