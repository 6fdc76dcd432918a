"""Persistence: reopen, removes and re-adds, compaction, and crash safety of ``save``.

A crash is simulated three ways: an exception in the middle of writing segment files, an exception
just before the manifest is replaced, and a hard ``os._exit`` of a child process half-way through a
file; each time the directory must reopen to exactly the last committed state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from neardup_helpers import flip_bits

from disgorge.errors import NotFoundError, StoreError, UsageError
from disgorge.neardup import HammingIndex, _store, as_codes
from disgorge.neardup import _segment as segment_mod

SRC = Path(__file__).resolve().parents[2] / "src"


def codes(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)


def snapshot(index: HammingIndex, queries: np.ndarray) -> tuple[int, list[tuple[int, int, int]]]:
    return len(index), index.range_search(queries, 31).to_list()


@pytest.fixture
def small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give even small segments MIH tables, so their files are persisted and reloaded too."""
    monkeypatch.setattr(segment_mod, "MIN_TABLE_ROWS", 100)


def test_reopen_returns_the_same_answers(tmp_path: Path, small_tables: None) -> None:
    a, b = codes(1, 500), codes(2, 50)
    with HammingIndex.open(tmp_path / "ix") as index:
        index.add(np.arange(500), a)
        index.save()
        index.add(np.arange(1000, 1050), b)  # small segment: brute force, no tables
        index.save()
        before = snapshot(index, np.concatenate([a[:20], b[:20]]))
    reopened = HammingIndex.open(tmp_path / "ix", create=False)
    assert snapshot(reopened, np.concatenate([a[:20], b[:20]])) == before
    assert [s["layout"] for s in reopened.stats()["segments"]] == ["mih16x16", "brute"]
    assert isinstance(reopened._segments[0].codes, np.memmap)


def test_removed_ids_are_hidden_and_stay_hidden_after_reopen(tmp_path: Path) -> None:
    a = codes(3, 40)
    index = HammingIndex.open(tmp_path)
    index.add(np.arange(40) // 2, a)  # two codes per id
    index.save()
    index.remove([3, 7])
    index.add([99], a[:1])  # pending rows are searchable before save
    hits = {i for _, i, _ in index.range_search(a, 0)}
    assert 3 not in hits
    assert 7 not in hits
    assert 99 in hits
    assert len(index) == 40 - 4 + 1
    index.save()
    again = HammingIndex.open(tmp_path)
    assert {i for _, i, _ in again.range_search(a, 0)} == hits
    assert len(again) == 37


def test_an_id_added_again_after_removal_is_visible_but_its_old_codes_are_not(tmp_path: Path) -> None:
    a = codes(4, 3)
    index = HammingIndex.open(tmp_path)
    index.add([5, 6, 7], a)
    index.save()
    index.remove([5])
    index.add([5], a[1:2])  # id 5 now has the code of id 6
    index.remove([6])
    index.add([6], a[1:2])  # and removed then re-added before any save
    index.save()
    reopened = HammingIndex.open(tmp_path)
    assert reopened.range_search(a[0], 0).to_list() == []
    assert reopened.range_search(a[1], 0).to_list() == [(0, 5, 0), (0, 6, 0)]
    assert len(reopened) == 3


def test_remove_of_pending_rows_drops_them_before_they_are_written(tmp_path: Path) -> None:
    index = HammingIndex.open(tmp_path)
    index.add([1, 2], codes(5, 2))
    index.remove([1])
    assert len(index) == 1
    index.save()
    assert HammingIndex.open(tmp_path).stats()["segments"][0]["rows"] == 1


def test_compact_drops_tombstoned_rows_and_merges_segments(tmp_path: Path, small_tables: None) -> None:
    a = codes(6, 300)
    index = HammingIndex.open(tmp_path)
    for k in range(3):
        index.add(np.arange(k * 100, (k + 1) * 100), a[k * 100 : (k + 1) * 100])
        index.save()
    index.remove(np.arange(0, 300, 3))
    before = snapshot(index, a)
    index.compact()
    assert index.stats()["segments"] == [{"seq": 4, "rows": 200, "layout": "mih16x16"}]
    assert index.stats()["tombstones"] == 0
    assert snapshot(index, a) == before
    assert snapshot(HammingIndex.open(tmp_path), a) == before
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2, left
    assert "MANIFEST.json" in left


def test_compact_in_memory(small_tables: None) -> None:
    a = codes(7, 200)
    index = HammingIndex()
    index.add(np.arange(100), a[:100])
    index.range_search(a[:1])  # seals the first segment
    index.add(np.arange(100, 200), a[100:])
    index.remove([0, 150])
    before = snapshot(index, a)
    index.compact()
    assert snapshot(index, a) == before
    assert len(index.stats()["segments"]) == 1


def test_crash_while_writing_segment_files_keeps_the_committed_state(
    tmp_path: Path, small_tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = codes(8, 300), codes(9, 300)
    index = HammingIndex.open(tmp_path)
    index.add(np.arange(300), a)
    index.save()
    committed = snapshot(index, np.concatenate([a[:10], b[:10]]))
    index.add(np.arange(300, 600), b)
    index.remove([1, 2])
    real_write = _store._write_array
    calls = {"n": 0}

    def failing_write(path: Path, arr: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # ids, codes, first perm written; fail on the first offsets file
            path.write_bytes(b"\x93NUMPY partial")
            raise OSError("disk full (simulated)")
        real_write(path, arr)

    monkeypatch.setattr(_store, "_write_array", failing_write)
    with pytest.raises(OSError, match="simulated"):
        index.save()
    monkeypatch.setattr(_store, "_write_array", real_write)
    reopened = HammingIndex.open(tmp_path)
    assert snapshot(reopened, np.concatenate([a[:10], b[:10]])) == committed
    assert any(p.name.endswith(_store.TMP) for p in tmp_path.iterdir()), "the partial segment is left behind"
    index.save()  # the in-memory index still holds the change: retrying commits it and cleans up
    assert not any(p.name.endswith(_store.TMP) for p in tmp_path.iterdir())
    assert len(HammingIndex.open(tmp_path)) == 598


def test_crash_before_the_manifest_is_replaced_keeps_the_committed_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = codes(10, 50)
    index = HammingIndex.open(tmp_path)
    index.add(np.arange(50), a)
    index.save()
    manifest_before = (tmp_path / _store.MANIFEST).read_bytes()
    index.add([500], flip_bits(as_codes(a[0]).tobytes(), [1, 2, 3]))
    index.remove([4])

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt("power cut (simulated)")

    monkeypatch.setattr(_store.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt, match="simulated"):
        index.save()
    monkeypatch.undo()
    assert (tmp_path / _store.MANIFEST).read_bytes() == manifest_before
    reopened = HammingIndex.open(tmp_path)
    assert len(reopened) == 50
    assert reopened.range_search(a[0], 31).to_list() == [(0, 0, 0)]
    assert reopened.range_search(a[4], 0).to_list() == [(0, 4, 0)]


CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from disgorge.neardup import HammingIndex, _store, _segment
    _segment.MIN_TABLE_ROWS = 100
    rng = np.random.default_rng(12)
    a = rng.integers(0, 2**64 - 1, size=(400, 4), dtype=np.uint64, endpoint=True)
    index = HammingIndex.open(sys.argv[1])
    index.add(np.arange(200), a[:200])
    index.save()
    index.add(np.arange(200, 400), a[200:])
    real = _store._write_array
    calls = [0]
    def dying_write(path, arr):
        calls[0] += 1
        if calls[0] == 3:
            with open(path, "wb") as f:  # half a file, then the process dies: no cleanup runs
                f.write(arr.tobytes()[: arr.nbytes // 2])
            os._exit(9)
        real(path, arr)
    _store._write_array = dying_write
    index.save()
    """
)


def test_hard_crash_of_a_process_mid_save_leaves_the_prior_state_reopenable(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True, check=False
    )
    assert proc.returncode == 9, proc.stderr.decode()
    a = np.random.default_rng(12).integers(0, 2**64 - 1, size=(400, 4), dtype=np.uint64, endpoint=True)
    index = HammingIndex.open(tmp_path)
    assert len(index) == 200
    assert index.range_search(a[:200], 0).id.tolist() == list(range(200))
    assert index.range_search(a[200:], 31).to_list() == []
    index.add([7], a[300])
    index.save()
    assert len(HammingIndex.open(tmp_path)) == 201


def test_leftover_partial_files_are_ignored_then_removed(tmp_path: Path) -> None:
    index = HammingIndex.open(tmp_path)
    index.add([1], codes(13, 1))
    index.save()
    (tmp_path / "seg-00000009-deadbeef.tmp").mkdir()
    (tmp_path / "seg-00000009-deadbeef.tmp" / "ids.npy").write_bytes(b"\x93NUMPY")
    (tmp_path / "seg-00000010-cafecafe").mkdir()  # renamed but never committed
    (tmp_path / (_store.MANIFEST + _store.TMP)).write_bytes(b'{"format": "disg')
    (tmp_path / "notes.txt").write_text("not ours")
    assert len(HammingIndex.open(tmp_path)) == 1
    index.add([2], codes(14, 1))
    index.save()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("seg-"))[:2] == [
        "MANIFEST.json",
        "notes.txt",
    ]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("seg-")]) == 1  # small ones merge


def test_damaged_files_raise_a_store_error_that_says_what_to_do(tmp_path: Path) -> None:
    index = HammingIndex.open(tmp_path)
    index.add([1, 2], codes(15, 2))
    index.save()
    seg = json.loads((tmp_path / _store.MANIFEST).read_text())["segments"][0]["name"]
    (tmp_path / seg / "codes.npy").write_bytes(b"garbage")
    with pytest.raises(StoreError, match=r"damaged: cannot read codes\.npy") as info:
        HammingIndex.open(tmp_path)
    assert "rebuild the index" in info.value.diagnostics()
    (tmp_path / _store.MANIFEST).write_text("{}")
    with pytest.raises(StoreError, match=r"not a disgorge\.neardup version 1 manifest"):
        HammingIndex.open(tmp_path)


def test_open_without_create_requires_an_existing_index(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no near-duplicate index"):
        HammingIndex.open(tmp_path / "missing", create=False)


def test_a_closed_index_refuses_to_save_rather_than_commit_an_empty_one(tmp_path: Path) -> None:
    index = HammingIndex.open(tmp_path)
    index.add([1], codes(16, 1))
    index.save()
    index.close()
    with pytest.raises(UsageError, match="closed"):
        index.save()
    assert len(HammingIndex.open(tmp_path)) == 1


def test_small_segments_are_merged_when_new_rows_are_sealed(tmp_path: Path) -> None:
    a = codes(17, 30)
    index = HammingIndex.open(tmp_path)
    for k in range(10):  # an add-then-search loop, as the re-ingestion guard does
        index.add([k, k], a[2 * k : 2 * k + 2])
        assert index.range_search(a[2 * k], 0).to_list() == [(0, k, 0)]
        if k == 4:
            index.save()
            index.remove([1])
    assert len(index.stats()["segments"]) == 1
    index.save()
    assert len(HammingIndex.open(tmp_path)) == 18
    assert HammingIndex.open(tmp_path).range_search(a[2], 0).to_list() == []
