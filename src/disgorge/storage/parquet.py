"""Plain Parquet files rewritten without the erased rows, atomically.

The new file is written next to the old one (same folder, so ``rename(2)`` is atomic and never crosses
a file system), fsynced, renamed over the old name, and the folder fsynced: a reader, or a crash, sees
either the old file or the new one, never a torn file. The folder is opened from a storage root without
following symlinks (:class:`~disgorge.storage.local.LocalStorage`), and the rename is skipped if the
file changed while it was being rewritten. The old file's blocks are freed, not overwritten.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from disgorge.errors import InputError, NotFoundError, StoreError
from disgorge.storage.local import LocalStorage, uri_to_path

_COMPRESSION = {
    "UNCOMPRESSED": "none",
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "ZSTD": "zstd",
    "LZ4": "lz4",
    "BROTLI": "brotli",
}


@dataclass(frozen=True, slots=True)
class ParquetRewrite:
    """Evidence: rows before and after, and whether a new file replaced the old one."""

    uri: str
    column: str
    rows_before: int
    rows_after: int
    rewritten: bool

    @property
    def rows_deleted(self) -> int:
        return self.rows_before - self.rows_after

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows_deleted": self.rows_deleted}


def rewrite_parquet_without(
    path: str,
    column: str,
    values: Sequence[str | int],
    *,
    storage: LocalStorage | None = None,
) -> ParquetRewrite:
    """Rewrite the Parquet file at ``path`` (path or ``file://`` URI) without rows whose ``column`` is in
    ``values``, keeping its schema, metadata, compression and row-group size.

    ``storage`` confines the file to its roots; without it the file's own folder is the root. Idempotent:
    a file with no matching row is left untouched (``rewritten`` is false).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    local = storage or LocalStorage([os.path.dirname(uri_to_path(path))])
    where = local.locate(path)
    if not where.parts:
        raise InputError(f"{where.path} is a storage root, not a Parquet file")
    name = where.parts[-1]
    with local.parent_dir(where) as dfd:
        try:
            before = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFoundError(f"{where.path} does not exist") from None
        with local.open(where.path) as f:
            pf = pq.ParquetFile(f)
            meta = pf.metadata
            table = pf.read()
        if column not in table.column_names:
            raise InputError(
                f"{where.path}: no column {column!r}", hint=f"columns: {', '.join(table.column_names)}"
            )
        try:
            keys = pa.array(list(values), type=table.schema.field(column).type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"{where.path}: values do not fit column {column!r}: {exc}") from exc
        kept = table.filter(pc.invert(pc.fill_null(pc.is_in(table[column], value_set=keys), False)))
        if kept.num_rows == table.num_rows:
            return ParquetRewrite(where.uri, column, table.num_rows, kept.num_rows, False)
        first = meta.row_group(0).column(0) if meta.num_row_groups and meta.num_columns else None
        compression = _COMPRESSION.get(first.compression if first else "SNAPPY", "snappy")
        group = max(meta.row_group(0).num_rows, 1) if meta.num_row_groups else None
        tmp = f".{name[:200]}.disgorge-{secrets.token_hex(6)}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd
        )
        try:
            os.fchmod(fd, before.st_mode & 0o7777)
            with os.fdopen(fd, "wb", closefd=False) as out:
                pq.write_table(kept, out, compression=compression, row_group_size=group)
                out.flush()
                os.fsync(fd)
            now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if (now.st_ino, now.st_size, now.st_mtime_ns) != (
                before.st_ino,
                before.st_size,
                before.st_mtime_ns,
            ):
                raise StoreError(
                    f"{where.path} changed while being rewritten; nothing replaced", hint="run again"
                )
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        finally:
            os.close(fd)
    return ParquetRewrite(where.uri, column, table.num_rows, kept.num_rows, True)
