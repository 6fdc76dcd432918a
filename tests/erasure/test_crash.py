"""Reliability: SIGKILL the executor at 20+ random points of a plan with a thousand targets across files and
a Delta table, with copies in S3 (a real SeaweedFS); after resuming, every planned target is gone, nothing was deleted twice, and every
unplanned object is byte-identical to before."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

import disgorge
from disgorge.model import AssetRecord
from tests.conftest import PEOPLE, approve, claim, use_s3
from tests.erasure.conftest import tree_digest
from tests.storage.seaweed import Seaweed

VICTIMS, OTHERS, KILLS = 1000, 200, 22


@pytest.fixture
def big_world(tmp_path: Path, seaweed: Seaweed) -> tuple[Path, str, Path, Seaweed]:
    rng = random.Random(5)
    s3 = seaweed.client()
    bucket = f"crash-{rng.getrandbits(32):08x}"
    s3.create_bucket(Bucket=bucket)
    files, table = tmp_path / "data" / "files", tmp_path / "data" / "table"
    records, keys, subjects = [], [], []
    for i in range(VICTIMS + OTHERS):
        sub = files / f"{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        p = sub / f"{i:05d}.bin"
        p.write_bytes(rng.randbytes(256 + i % 100))
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        st = p.stat()
        subject = "victim" if i < VICTIMS else f"other-{i % 7}"
        uris = [(p.as_uri(), st.st_mtime_ns, st.st_ino), (f"delta://{table}#asset_sha256={sha}", 0, 0)]
        if i % 4 == 0:  # every fourth asset also has a copy in S3, under an opaque key
            s3.put_object(Bucket=bucket, Key=sha, Body=p.read_bytes())
            uris.append((f"s3://{bucket}/{sha}", 0, 0))
        records += [
            AssetRecord(
                sha256=sha,
                size=st.st_size,
                media_type="application/octet-stream",
                uri=uri,
                mtime_ns=mtime,
                inode=inode,
                subject=subject,
            )
            for uri, mtime, inode in uris
        ]
        keys.append(sha)
        subjects.append(subject)
    half = len(keys) // 2
    write_deltalake(
        str(table),
        pa.table({"asset_sha256": keys[:half], "subject": subjects[:half]}),
        configuration={"delta.enableChangeDataFeed": "true"},
    )
    write_deltalake(
        str(table), pa.table({"asset_sha256": keys[half:], "subject": subjects[half:]}), mode="append"
    )
    home = tmp_path / "home"
    home.mkdir()
    use_s3(home, seaweed)
    PEOPLE["ann"].save(tmp_path / "ann.identity")
    with disgorge.open(home, identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        src, _ = cat.add_source("s", notice=b"n", uses=["essential.service"])
        cat.store.register(records, source_id=src.id, notice_id=src.notice_id)
        cat.add_storage_root(tmp_path / "data")
        plan, _ = cat.erasures.plan(scope=("subject", "victim"), withdrawn=False, reason="r", legal_basis="b")
        approve(cat, plan.id)
    return home, plan.id, tmp_path / "data", seaweed


def test_sigkill_at_random_points_then_resume(big_world: tuple[Path, str, Path, Seaweed]) -> None:
    home, plan, data, seaweed = big_world
    before = tree_digest(data / "files")

    def payload(i: int) -> bytes:
        return (data / "files" / f"{i % 50:02d}" / f"{i:05d}.bin").read_bytes()

    s3_payloads = [payload(i) for i in range(0, VICTIMS, 4)]
    kept_payloads = [payload(i) for i in range(VICTIMS, VICTIMS + OTHERS, 4)]
    planned = {f"{i % 50:02d}/{i:05d}.bin" for i in range(VICTIMS)}
    cmd = [sys.executable, "-m", "disgorge", "erase", "run", plan, "--execute", "--home", str(home), "--json"]
    env = {**os.environ, "DISGORGE_IDENTITY": str(home.parent / "ann.identity")}
    rng = random.Random(11)
    kills = 0
    db = sqlite3.connect(f"file:{home / 'catalog.db'}?mode=ro", uri=True)
    for threshold in sorted(rng.sample(range(1, VICTIMS + 2), KILLS)):  # kill points spread over the plan
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            done = db.execute("SELECT count(*) FROM erasure_targets WHERE state = 'done'").fetchone()[0]
            if done >= threshold:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(rng.uniform(0.001, 0.02))
        proc.wait()
    db.close()
    final = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 20
    after = tree_digest(data / "files")
    assert set(before) - set(after) == planned
    assert {k: v for k, v in before.items() if k not in planned} == after  # unplanned: byte-identical
    with disgorge.open(home, identity=PEOPLE["ann"]) as cat:
        targets = list(cat.store.targets(plan))
        assert {t.state for t in targets} == {"done"}
        outcomes = [(t.evidence or "").split(":")[0] for t in targets if t.kind == "copy"]
        # the intent is journaled before each batch is deleted: a kill between the deletion and its
        # record is found on resume and journaled as deleted, never as "already gone"
        assert len(outcomes) == VICTIMS + VICTIMS // 4 and set(outcomes) == {"deleted"}
        assert cat.erasures.verify(plan).clean
        assert [t.state for t in targets if t.kind == "storage_compact"] == ["done"]
        copies = [t for t in targets if t.kind in ("copy", "table_rows")]
        assert all(t.uri.startswith("keyed:") for t in copies)  # the catalog forgot every path
        bucket = next(t.uri for t in targets if t.kind == "storage_compact").removeprefix("s3://")
    client = seaweed.client()
    left = {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    victim_keys = {hashlib.sha256(p).hexdigest() for p in s3_payloads}
    assert not left & victim_keys and len(left) == OTHERS // 4
    volumes = seaweed.volume_bytes()  # compaction ran: the erased bytes left the volume files too
    assert not any(payload in volumes for payload in s3_payloads)
    assert all(payload in volumes for payload in kept_payloads)
    rows = DeltaTable(str(data / "table")).to_pyarrow_table().to_pydict()
    assert set(rows["subject"]) == {f"other-{i}" for i in range(7)} and len(rows["subject"]) == OTHERS
