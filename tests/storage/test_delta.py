"""Delta tables and Parquet files: erased values are in the files before, and nowhere after."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from disgorge.errors import InputError
from disgorge.storage import Identity, LocalStorage, StorageConfig, backend_for
from disgorge.storage.delta import delete_rows, purge_history, table_location, verify_rows_gone
from disgorge.storage.parquet import rewrite_parquet_without
from disgorge.storage.scrub import contains_values, parquet_hits, raw_hits


def _key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


ERASED = "0" + _key("erased subject")[1:]  # sorts first: it is a column minimum in the log's statistics
KEPT = [_key(f"kept {i}") for i in range(5)]


@pytest.fixture
def table(root: Path) -> Path:
    """Four versions with the change data feed on: appends, an update of an erased row, an append."""
    path = root / "tables" / "photos"
    rows = {"subject_key": [ERASED, KEPT[0], KEPT[1]], "n": [1, 2, 3], "caption": ["a", "b", "c"]}
    write_deltalake(str(path), pa.table(rows), configuration={"delta.enableChangeDataFeed": "true"})
    write_deltalake(
        str(path),
        pa.table({"subject_key": [KEPT[2], ERASED], "n": [4, 5], "caption": ["d", "e"]}),
        mode="append",
    )
    DeltaTable(str(path)).update(predicate="n = 1", updates={"caption": "'edited'"})
    write_deltalake(
        str(path), pa.table({"subject_key": KEPT[3:], "n": [6, 7], "caption": ["f", "g"]}), mode="append"
    )
    return path


def _where(table: Path) -> set[str]:
    """Which kinds of table file hold the erased key."""
    kinds = set()
    for rel, _ in contains_values(str(table), [ERASED], column="subject_key"):
        kinds.add(
            "log" if rel.startswith("_delta_log") else "cdf" if rel.startswith("_change_data") else "data"
        )
    return kinds


def test_rows_are_in_every_kind_of_file_before_and_nowhere_after(table: Path) -> None:
    assert _where(table) == {"data", "cdf", "log"}
    before = verify_rows_gone(f"delta://{table}", "subject_key", [ERASED])
    assert before[0] == "version 3: 2 erased row(s) still readable"
    assert "version 0 still loads and returns 1 erased row(s)" in before
    assert ERASED not in " ".join(before)  # problems name values by hash, never in clear

    ev = delete_rows(f"delta://{table}", "subject_key", [ERASED])
    assert (ev.rows_deleted, ev.version_before) == (2, 3) and ev.purge is not None
    assert ev.version_after > ev.version_before and ev.purge.files_removed > 0
    assert verify_rows_gone(f"delta://{table}", "subject_key", [ERASED]) == []
    assert _where(table) == set()
    left = DeltaTable(str(table)).to_pyarrow_table()
    assert sorted(left["subject_key"].to_pylist()) == sorted(KEPT)
    assert DeltaTable(str(table)).metadata().configuration["delta.enableChangeDataFeed"] == "true"
    with pytest.raises(TableNotFoundError, match="No files in log segment"):
        DeltaTable(str(table), version=0)


def test_interrupted_between_delete_and_purge_finishes_when_repeated(table: Path) -> None:
    first = delete_rows(str(table), "subject_key", [ERASED], purge=False)
    assert first.rows_deleted == 2 and first.purge is None
    problems = verify_rows_gone(str(table), "subject_key", [ERASED])
    assert problems and not any(p.startswith("version 4:") for p in problems)  # current version is clean
    assert any("still loads and returns" in p for p in problems)
    assert any("_change_data" in p for p in problems)
    again = delete_rows(str(table), "subject_key", [ERASED])
    assert again.rows_deleted == 0 and again.purge is not None
    assert verify_rows_gone(str(table), "subject_key", [ERASED]) == []
    third = delete_rows(str(table), "subject_key", [ERASED])
    assert third.rows_deleted == 0 and third.purge is not None and third.purge.files_removed == 0


def test_integer_keys_and_quoting(root: Path) -> None:
    path = root / "t2"
    write_deltalake(str(path), pa.table({"Odd Name": ["it's", "b"], "id": [10, 20]}))
    write_deltalake(str(path), pa.table({"Odd Name": ["c"], "id": [30]}), mode="append")
    assert delete_rows(str(path), "Odd Name", ["it's"]).rows_deleted == 1
    assert delete_rows(path.as_uri(), "id", [30, 99]).rows_deleted == 1
    assert verify_rows_gone(str(path), "id", [30]) == []
    assert DeltaTable(str(path)).to_pyarrow_table().to_pydict() == {"Odd Name": ["b"], "id": [20]}


def test_bad_columns_and_tables_are_input_errors(table: Path, root: Path) -> None:
    with pytest.raises(InputError, match="no column 'nope'"):
        delete_rows(str(table), "nope", ["x"])
    with pytest.raises(InputError, match="is int64: 'x' is not an integer"):
        delete_rows(str(table), "n", ["x"])
    with pytest.raises(InputError, match="no Delta table"):
        purge_history(str(root / "missing"))
    assert table_location(f"delta://{table}#subject_key=abc") == str(table)


def test_delta_uris_through_the_registry(table: Path, root: Path, tmp_path: Path) -> None:
    with StorageConfig(roots=(root,)) as cfg:
        uri = f"delta://{table}#subject_key={ERASED}"
        backend = backend_for(uri, cfg)
        assert backend.exists(uri)
        ev = backend.delete(uri, Identity(0))
        assert (ev.outcome, ev.versions_deleted) == ("deleted", 2) and "history purged" in ev.detail
        assert not backend.exists(uri) and backend.delete(uri, Identity(0)).outcome == "already_gone"
        files = [o.uri for o in backend.iter_objects(f"delta://{table}")]
        assert any("_delta_log" in u for u in files)
        other = tmp_path / "elsewhere"
        write_deltalake(str(other), pa.table({"k": ["v"]}))
        refused = backend.delete(f"delta://{other}#k=v", Identity(0))
        assert refused.outcome == "refused" and "outside every storage root" in refused.detail
        assert backend.delete(f"delta://{table}", Identity(0)).outcome == "refused"


def test_decoded_scan_finds_what_compression_hides(tmp_path: Path) -> None:
    secret = _key("hidden")
    cells = ["a" * 64, secret, "z" * 64] * 50
    pq.write_table(pa.table({"k": cells}), tmp_path / "f.parquet", compression="zstd", write_statistics=False)
    assert raw_hits(str(tmp_path / "f.parquet"), [secret.encode()]) == set()
    assert parquet_hits(str(tmp_path / "f.parquet"), [secret]) == {0}
    assert list(contains_values(str(tmp_path), [secret])) == [("f.parquet", [0])]


def test_parquet_rewrite_is_atomic_and_keeps_the_file_shape(root: Path) -> None:
    path = root / "features.parquet"
    data = pa.table({"asset": [ERASED, *KEPT], "v": list(range(6))})
    data = data.replace_schema_metadata({b"origin": b"test"})
    pq.write_table(data, path, compression="zstd", row_group_size=2)
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    local = LocalStorage([root])
    ev = rewrite_parquet_without(str(path), "asset", [ERASED], storage=local)
    assert (ev.rows_before, ev.rows_after, ev.rewritten, ev.rows_deleted) == (6, 5, True, 1)
    assert path.stat().st_ino != inode and (path.stat().st_mode & 0o777) == 0o640
    pf = pq.ParquetFile(path)
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD" and pf.metadata.row_group(0).num_rows == 2
    assert pf.schema_arrow.metadata == {b"origin": b"test"}
    assert pf.read()["asset"].to_pylist() == KEPT
    assert list(contains_values(str(root), [ERASED])) == []
    assert sorted(p.name for p in root.iterdir()) == ["features.parquet"]  # no temp file left
    again = rewrite_parquet_without(path.as_uri(), "asset", [ERASED], storage=local)
    assert not again.rewritten and again.rows_deleted == 0


def test_parquet_rewrite_refuses_symlinks_and_outsiders(root: Path, tmp_path: Path) -> None:
    real = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"k": ["x"]}), real)
    (root / "link.parquet").symlink_to(real)
    local = LocalStorage([root])
    with pytest.raises(InputError, match="refused: a symlink"):
        rewrite_parquet_without(str(root / "link.parquet"), "k", ["x"], storage=local)
    with pytest.raises(InputError, match="outside every storage root"):
        rewrite_parquet_without(str(real), "k", ["x"], storage=local)
    assert pq.read_table(real)["k"].to_pylist() == ["x"]
    with pytest.raises(InputError, match="no column 'nope'"):
        rewrite_parquet_without(str(real), "nope", ["x"])
