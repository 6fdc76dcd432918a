"""The ledger: events appended with their catalog change, checkpoints, audits and inclusion proofs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

import disgorge
from disgorge.catalog.schema import LedgerEntry
from disgorge.errors import VerificationFailed
from disgorge.ingest import IngestOptions
from disgorge.ledger.merkle import leaf_hash, verify_inclusion


def kinds(cat: disgorge.Catalog) -> list[str]:
    return [json.loads(e)["kind"] for _, e, _ in cat.store.ledger_entries()]


def test_every_catalog_change_is_logged(cat: disgorge.Catalog, photos: Path) -> None:
    head = kinds(cat)
    assert head.count("setting") >= 2 and "roster.genesis" in head and head.count("roster.add") == 4
    start = len(head)
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    cat.check(["faces"], use="train_ai_system", recipient="acme")
    assert kinds(cat)[start:] == ["ingest_batch", "dataset", "decision"]
    entries = [e for _, e, _ in cat.store.ledger_entries()]
    assert all("alice" not in e for e in entries)  # keyed hashes and counts, never personal data
    assert all(json.loads(e)["by"] == "ann" for e in entries[start:])  # the acting principal, always
    batch = json.loads(entries[start])
    assert batch["new_assets"] == 9 and len(batch["assets_root"]) == 64


def test_a_failed_change_logs_nothing(
    cat: disgorge.Catalog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from disgorge.catalog import assets as assets_mod

    real = assets_mod._bulk_insert

    def failing(s: object, table: object, rows: object, key: object) -> object:
        if getattr(table, "name", "") == "copies":
            raise RuntimeError("disk full")
        return real(s, table, rows, key)  # type: ignore[arg-type]

    monkeypatch.setattr(assets_mod, "_bulk_insert", failing)
    before = kinds(cat)
    with pytest.raises(RuntimeError, match="disk full"):
        cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    assert kinds(cat) == before


def test_checkpoint_verify_and_prove(cat: disgorge.Catalog, photos: Path) -> None:
    n = cat.store.ledger_size()
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    first = cat.proofs.checkpoint()
    cat.create_dataset("faces", source="site")
    second = cat.proofs.checkpoint()
    assert (first["size"], second["size"]) == (n + 1, n + 2)
    assert cat.proofs.verify(first["checkpoint"])["ok"]
    p = cat.proofs.prove(n)
    verify_inclusion(
        leaf_hash(p["entry"].encode()),
        n,
        p["tree_size"],
        [base64.b64decode(x) for x in p["proof"]],
        bytes.fromhex(p["root"]),
    )


@pytest.mark.parametrize("attack", ["edit", "truncate", "reorder"])
def test_tampering_is_detected(cat: disgorge.Catalog, photos: Path, attack: str) -> None:
    n = cat.store.ledger_size()
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    cat.proofs.checkpoint()
    with cat.store.session() as s:
        if attack == "edit":
            entry = s.scalar(select(LedgerEntry.entry).where(LedgerEntry.seq == n))
            assert entry is not None
            forged = entry.replace('"new_assets":9', '"new_assets":8')
            assert forged != entry
            s.execute(
                update(LedgerEntry)
                .where(LedgerEntry.seq == n)
                .values(entry=forged, leaf=leaf_hash(forged.encode()))
            )
        elif attack == "truncate":
            s.execute(delete(LedgerEntry).where(LedgerEntry.seq == n + 1))
        else:
            a, b = (s.scalar(select(LedgerEntry.entry).where(LedgerEntry.seq == i)) for i in (0, 1))
            s.execute(
                update(LedgerEntry)
                .where(LedgerEntry.seq == 0)
                .values(entry=b, leaf=leaf_hash(str(b).encode()))
            )
            s.execute(
                update(LedgerEntry)
                .where(LedgerEntry.seq == 1)
                .values(entry=a, leaf=leaf_hash(str(a).encode()))
            )
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) >= 2
    with pytest.raises(VerificationFailed, match=r"does not match the log|truncated|missing"):
        cat.proofs.verify()


def test_earlier_checkpoint_from_another_log_is_a_fork(tmp_path: Path, cat: disgorge.Catalog) -> None:
    cat.proofs.checkpoint()
    forged = cat.proofs.identity
    from disgorge.ledger.note import Checkpoint, sign_checkpoint

    other = sign_checkpoint(Checkpoint(forged.origin, 1, b"\x11" * 32), forged.private_key(), forged.name)
    with pytest.raises(VerificationFailed, match=r"two different roots|does not match"):
        cat.proofs.verify(other)
