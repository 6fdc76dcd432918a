"""Find erased values in files: the check behind "no file still holds it" for tables and Parquet files.

Two looks at every file, because each misses what the other sees: the raw bytes (JSON commits, Parquet
footers, whose column statistics are stored uncompressed; Parquet format spec, ``Statistics``) and, for
Parquet, the decoded columns (pages are usually snappy/zstd-compressed, so a value inside them never
appears as raw bytes). Decoded string cells are searched for the value as a substring, so a key inside a
checkpoint's statistics JSON (``add.stats``) is found too. Symlinks are never followed.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

CHUNK = 1 << 20


def raw_hits(source: str | BinaryIO, needles: Sequence[bytes]) -> set[int]:
    """Indexes of the needles present in the bytes of a file (path, never followed if a symlink) or
    stream, read in overlapping 1 MiB windows."""
    live = [(i, n) for i, n in enumerate(needles) if n]
    if not live:
        return set()
    overlap = max(len(n) for _, n in live) - 1
    found: set[int] = set()
    with _opened(source) as f:
        tail = b""
        while chunk := f.read(CHUNK):
            window = tail + chunk
            found.update(i for i, n in live if i not in found and n in window)
            tail = window[-overlap:] if overlap else b""
    return found


@contextlib.contextmanager
def _opened(source: str | BinaryIO) -> Iterator[BinaryIO]:
    if not isinstance(source, str):
        yield source
        return
    with os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        yield f


def _leaves(name: str, arr: Any) -> Iterator[tuple[str, Any]]:
    """Every primitive leaf of a (chunked) array, through structs, lists and maps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    t = arr.type
    if pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _leaves(t.field(i).name, pc.struct_field(arr, [i]))
    elif pa.types.is_map(t):
        yield from _leaves(name, arr.keys)
        yield from _leaves(name, arr.items)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(name, pc.list_flatten(arr))
    elif pa.types.is_dictionary(t):
        yield from _leaves(name, arr.dictionary_decode())
    else:
        yield name, arr


def parquet_hits(source: str | BinaryIO, values: Sequence[str | int], column: str | None = None) -> set[int]:
    """Indexes of the values present in the decoded Parquet file: as a substring of any string or
    binary cell, or (integers) equal to a cell of a column named ``column``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with _opened(source) as f:
        table = pq.read_table(f)
    strs = [(i, str(v).encode()) for i, v in enumerate(values) if isinstance(v, str)]
    ints = [(i, v) for i, v in enumerate(values) if isinstance(v, int) and not isinstance(v, bool)]
    found: set[int] = set()
    for name in table.column_names:
        for leaf, arr in _leaves(name, table[name]):
            t = arr.type
            if strs and (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)):
                cells = [c for c in pc.unique(arr).to_pylist() if c is not None]
                blob = b"\0".join(c.encode() if isinstance(c, str) else c for c in cells)
                found.update(i for i, n in strs if n in blob)
            elif ints and leaf == column and pa.types.is_integer(t):
                for i, v in ints:
                    if pc.any(pc.equal(arr, v)).as_py():
                        found.add(i)
    return found


def contains_values(
    folder: str, values: Sequence[str | int], *, column: str | None = None
) -> Iterator[tuple[str, list[int]]]:
    """(path relative to ``folder``, sorted value indexes) for every file that holds any value."""
    needles = [str(v).encode() if isinstance(v, str) else b"" for v in values]
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            found = raw_hits(path, needles)
            if name.endswith(".parquet") and len(found) < len(values):
                found |= parquet_hits(path, values, column)
            if found:
                yield os.path.relpath(path, folder), sorted(found)


def object_hits(
    name: str, data: bytes, values: Sequence[str | int], *, column: str | None = None
) -> list[int]:
    """Sorted indexes of the values an object's bytes hold (an object from a store, read whole)."""
    found = raw_hits(io.BytesIO(data), [str(v).encode() if isinstance(v, str) else b"" for v in values])
    if name.endswith(".parquet") and len(found) < len(values):
        found |= parquet_hits(io.BytesIO(data), values, column)
    return sorted(found)
