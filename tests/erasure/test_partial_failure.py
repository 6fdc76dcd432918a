"""The executor's partial-failure path, with faults injected at the storage boundary (MemoryStorage):
a deletion that fails is journaled as failed, nothing irreversible that is not a deletion runs while it
is failing (no dataset rebuilt, no recipient notified, nothing forgotten), and a re-run finishes the
plan without touching anything twice."""

from __future__ import annotations

import hashlib

import pytest

import disgorge
from disgorge.errors import StoreError
from disgorge.model import AssetRecord
from disgorge.storage import MemoryStorage, StorageConfig
from tests.conftest import accept_notices, approve


@pytest.fixture
def mem_world(cat: disgorge.Catalog) -> tuple[disgorge.Catalog, MemoryStorage, str]:
    mem = MemoryStorage()
    records = []
    for i in range(6):
        body = f"photo {i}".encode()
        info = mem.put(f"memory://bucket/{i:02d}", body)
        records.append(
            AssetRecord(
                hashlib.sha256(body).hexdigest(),
                len(body),
                "image/jpeg",
                info.uri,
                info.mtime_ns or 0,
                info.inode or 0,
                subject="victim" if i < 4 else "other",
            )
        )
    src = cat.store.get_source("site")
    cat.store.register(records, source_id=src.id, notice_id=src.notice_id)
    cat.create_dataset("faces", source="site")
    with cat.run("t", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False):
        pass
    accept_notices(cat, "acme")
    cat.__dict__["_storage"] = StorageConfig(backends={"memory": mem})
    plan, _ = cat.erasures.plan(scope=("subject", "victim"), withdrawn=False, reason="r", legal_basis="b")
    approve(cat, plan.id)
    return cat, mem, plan.id


def test_failed_deletion_holds_every_later_phase(
    mem_world: tuple[disgorge.Catalog, MemoryStorage, str],
) -> None:
    cat, mem, pid = mem_world
    mem.fail("delete", nth=2, error=StoreError("disk on fire"))
    report = cat.erasures.run(pid, dry_run=False)
    assert report.status == "incomplete"
    failed = [p for p in report.problems if p["state"] == "failed"]
    assert len(failed) == 3 and all("disk on fire" in p["evidence"] for p in failed)
    assert len(report.problems) == 3
    assert len(mem.objects) == 5  # the first deletion went through; the batch stopped at the fault
    held = {h["phase"] for h in report.held}
    assert held == {"rebuild and notify", "forget"}
    journal = cat.store.journal_counts(pid)
    assert journal["dataset"] == {"pending": 1} and journal["recipient"] == {"pending": 1}
    assert journal["catalog"] == {"pending": 1}
    assert [d.ref for d in cat.store.list_datasets()] == ["faces@1"]
    assert not (cat.home.path / "notices").exists()
    assert cat.store.assets_present(cat.store.plan_assets(pid)) == 4

    calls_before = len(mem.calls)
    again = cat.erasures.run(pid, dry_run=False)
    assert again.status == "done"
    deleted_again = [u for op, u in mem.calls[calls_before:] if op == "delete"]
    assert len(deleted_again) == 3  # only the three that failed are tried again
    assert sorted(mem.objects) == ["memory://bucket/04", "memory://bucket/05"]
    assert [d.ref for d in cat.store.list_datasets()] == ["faces@1", "faces@2"]
    assert cat.store.assets_present(cat.store.plan_assets(pid)) == 0
