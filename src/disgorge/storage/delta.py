"""Delta Lake tables (``deltalake``/delta-rs 1.6): delete rows so that no version, change-data file or log
statistic still holds them.

A Delta ``DELETE`` is copy-on-write: it rewrites the affected data files and records the old ones as
removed, so the rows stay readable by time travel (Delta protocol, "Remove File" actions) and in
``_change_data`` files when the change data feed is on. Making them unrecoverable takes (verified on
delta-rs 1.6.6, see COMPONENTS.md): log and deleted-file retention of ``interval 0 seconds``,
``vacuum(retention_hours=0, enforce_retention_duration=False, full=True)`` (``full`` also removes files no
version references, such as change data), a checkpoint at the current version, and ``cleanup_metadata()``,
which drops the JSON commits holding min/max statistics and the delete predicate; the zero
``deletedFileRetentionDuration`` keeps "remove" tombstones out of the checkpoint. :func:`verify_rows_gone`
checks all of it.

Tables on S3 (``s3://bucket/table`` or ``delta+s3://bucket/table``) work the same through delta-rs's
``storage_options`` (SeaweedFS needs ``AWS_ALLOW_HTTP`` and ``AWS_S3_ALLOW_UNSAFE_RENAME``); in a
versioned bucket ``vacuum`` only adds delete markers, so the purge also deletes every noncurrent version
under the table prefix, and the deleted bytes then wait for :meth:`S3Storage.compact`.

``vacuum(full=True)`` removes every file the current version does not reference: do not run it while
another writer is committing to the table. ``deltalake`` and ``pyarrow`` are imported only when used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from disgorge.errors import InputError, StoreError
from disgorge.storage.base import BaseStorage, DeleteEvidence, Identity, ObjectInfo, Outcome
from disgorge.storage.local import LocalStorage, uri_to_path
from disgorge.storage.scrub import contains_values, object_hits

if TYPE_CHECKING:
    from disgorge.storage.registry import S3Config, StorageConfig
    from disgorge.storage.s3 import S3Storage

Value = str | int
LOG_RETENTION = "interval 0 seconds"
#: log entries, and "remove" tombstones carried in checkpoints, are kept no longer than this
RETENTION_KEYS = ("delta.logRetentionDuration", "delta.deletedFileRetentionDuration")


@dataclass(frozen=True, slots=True)
class Purge:
    """What the history purge removed: vacuumed files, and the table version it ended at."""

    files_removed: int
    version: int
    noncurrent_versions_removed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RowDeletion:
    """Evidence of a row erasure: rows deleted, table versions before and after, the purge."""

    table_uri: str
    column: str
    values: int
    rows_deleted: int
    version_before: int
    version_after: int
    purge: Purge | None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["purge"] = None if self.purge is None else self.purge.to_json()
        return out


def table_location(table_uri: str) -> str:
    """``delta:///abs/table#column=value``, ``file:///abs/table`` or ``/abs/table`` -> ``/abs/table``;
    ``s3://bucket/table`` and ``delta+s3://bucket/table`` -> ``s3://bucket/table`` (delta-rs reads it
    with ``storage_options``)."""
    base = table_uri.partition("#")[0]
    if base.startswith("delta+s3://"):
        base = base.removeprefix("delta+")
    if base.startswith("s3://"):
        return base.rstrip("/")
    return uri_to_path(base).rstrip("/") or "/"


def s3_storage_options(config: S3Config) -> dict[str, str]:
    """delta-rs (object_store) options for an S3 endpoint such as SeaweedFS."""
    opts = {"AWS_REGION": config.region, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    if config.endpoint_url:
        opts["AWS_ENDPOINT_URL"] = config.endpoint_url
        opts["AWS_ALLOW_HTTP"] = "true" if config.endpoint_url.startswith("http://") else "false"
    if config.access_key_id and config.secret_access_key:
        opts["AWS_ACCESS_KEY_ID"] = config.access_key_id
        opts["AWS_SECRET_ACCESS_KEY"] = config.secret_access_key
    return opts


def _s3(storage_options: dict[str, str] | None) -> S3Storage:
    from disgorge.storage.registry import S3Config
    from disgorge.storage.s3 import S3Storage

    o = storage_options or {}
    return S3Storage(
        S3Config(
            endpoint_url=o.get("AWS_ENDPOINT_URL"),
            access_key_id=o.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=o.get("AWS_SECRET_ACCESS_KEY"),
            region=o.get("AWS_REGION", "us-east-1"),
        )
    )


def _open(table_uri: str, storage_options: dict[str, str] | None, version: int | None = None) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    loc = table_location(table_uri)
    try:
        return DeltaTable(loc, version=version, storage_options=storage_options)
    except TableNotFoundError as exc:
        raise InputError(f"{table_uri}: no Delta table at {loc}: {exc}") from exc


def _literal(value: Value, type_name: str, column: str) -> str:
    """A SQL literal for delta-rs's DataFusion predicate parser: strings quoted with '' escaping."""
    if isinstance(value, bool):
        raise InputError(f"column {column!r}: boolean keys are not supported")
    if type_name in ("string", "large_string", "string_view"):
        return "'" + str(value).replace("'", "''") + "'"
    if type_name.startswith(("int", "uint")):
        try:
            return str(int(value))
        except ValueError as exc:
            raise InputError(f"column {column!r} is {type_name}: {value!r} is not an integer") from exc
    raise InputError(f"column {column!r} is {type_name}: erase by a string or integer key column")


def _column_type(dt: Any, column: str, table_uri: str) -> str:
    import pyarrow as pa

    schema = pa.schema(dt.schema().to_arrow())
    if column not in schema.names:
        raise InputError(f"{table_uri}: no column {column!r}", hint=f"columns: {', '.join(schema.names)}")
    return str(schema.field(column).type)


def delete_rows(
    table_uri: str,
    column: str,
    values: Sequence[Value],
    *,
    purge: bool = True,
    storage_options: dict[str, str] | None = None,
    chunk: int = 1000,
) -> RowDeletion:
    """Delete every row whose ``column`` is in ``values``, then (``purge``) remove all history.

    Idempotent: values already gone delete nothing and commit no version, and the purge runs anyway,
    so a run killed between the delete and the purge finishes the job when repeated.
    """
    dt = _open(table_uri, storage_options)
    type_name = _column_type(dt, column, table_uri)
    before = int(dt.version())
    quoted = '"' + column.replace('"', '""') + '"'
    deleted = 0
    unique = sorted(set(values), key=str)
    for i in range(0, len(unique), chunk):
        lits = ", ".join(_literal(v, type_name, column) for v in unique[i : i + chunk])
        try:
            metrics = dt.delete(f"{quoted} IN ({lits})")
        except Exception as exc:
            raise StoreError(f"{table_uri}: delete failed: {exc}") from exc
        deleted += int(metrics.get("num_deleted_rows", 0))
    done = purge_history(table_uri, storage_options=storage_options) if purge else None
    after = done.version if done else int(_open(table_uri, storage_options).version())
    return RowDeletion(table_uri, column, len(unique), deleted, before, after, done)


def purge_history(table_uri: str, *, storage_options: dict[str, str] | None = None) -> Purge:
    """Set log and tombstone retention to zero, vacuum every unreferenced file now (``full=True``),
    checkpoint and clean up the log, so no earlier version can be loaded or read. Idempotent."""
    dt = _open(table_uri, storage_options)
    try:
        config = dt.metadata().configuration
        if any(config.get(k) != LOG_RETENTION for k in RETENTION_KEYS):
            dt.alter.set_table_properties(dict.fromkeys(RETENTION_KEYS, LOG_RETENTION))
        removed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True)
        dt.create_checkpoint()
        dt.cleanup_metadata()
    except Exception as exc:
        raise StoreError(f"{table_uri}: purging history failed: {exc}") from exc
    loc = table_location(table_uri)
    noncurrent = 0
    if loc.startswith("s3://"):
        with _s3(storage_options) as s3:
            noncurrent = s3.delete_history(loc + "/")
    return Purge(len(removed), int(_open(table_uri, storage_options).version()), noncurrent)


def _count(dt: Any, column: str, keys: Sequence[Value]) -> int:
    """Rows whose ``column`` is in ``keys``, computed on the column itself: a dataset filter would be
    pushed down to statistics that delta-rs may type as ``string_view``, which pyarrow cannot compare
    with ``string`` (ArrowNotImplementedError on ``greater_equal``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not keys:
        return 0
    col = dt.to_pyarrow_dataset().to_table(columns=[column])[column]
    if pa.types.is_string_view(col.type) or pa.types.is_large_string(col.type):
        col = col.cast(pa.string())
    value_set = pa.array(list(keys), type=col.type)
    return int(pc.sum(pc.is_in(col, value_set=value_set)).as_py() or 0)


def _value_ref(value: Value) -> str:
    """Problems name a value by a short hash, so a verification report does not repeat erased data."""
    return "value sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]


def verify_rows_gone(
    table_uri: str,
    column: str,
    values: Sequence[Value],
    *,
    storage_options: dict[str, str] | None = None,
) -> list[str]:
    """Everything that still holds an erased value; empty when the erasure is complete.

    Checks the current version, every earlier version (none may load), and every file under the table
    (on S3, every version of every object under its prefix): raw bytes (JSON commits, Parquet footers'
    statistics) and decoded Parquet pages (data, ``_change_data``, checkpoints), since compressed pages
    hide values from a grep.
    """
    from deltalake.exceptions import DeltaError

    problems: list[str] = []
    dt = _open(table_uri, storage_options)
    current = int(dt.version())
    type_name = _column_type(dt, column, table_uri)
    keys: list[Value] = (
        [int(v) for v in values] if type_name.startswith(("int", "uint")) else [str(v) for v in values]
    )
    left = _count(dt, column, keys)
    if left:
        problems.append(f"version {current}: {left} erased row(s) still readable")
    for v in range(current):
        try:
            old = _open(table_uri, storage_options, version=v)
        except (InputError, DeltaError, OSError):
            continue  # not loadable: what we want
        try:
            n = _count(old, column, keys)
            problems.append(f"version {v} still loads" + (f" and returns {n} erased row(s)" if n else ""))
        except Exception:
            problems.append(f"version {v} still loads (its data files are gone, its log entries remain)")
    loc = table_location(table_uri)
    if loc.startswith("s3://"):
        with _s3(storage_options) as s3:
            for obj in s3.iter_objects(loc + "/"):  # noncurrent versions too
                with s3.open(obj.uri) as body:
                    hits = object_hits(obj.uri.split("?")[0], body.read(), keys, column=column)
                if hits:
                    problems.append(
                        f"{obj.uri} still contains {', '.join(_value_ref(keys[i]) for i in hits)}"
                    )
    else:
        for rel, found in contains_values(loc, keys, column=column):
            problems.append(f"{rel} still contains {', '.join(_value_ref(keys[i]) for i in found)}")
    return problems


class DeltaStorage(BaseStorage):
    """``delta:///abs/table`` (local, confined to the storage roots, no symlink on the path) and
    ``delta+s3://bucket/table``: row erasure for ``#column=value`` targets, and the table's files for
    residual scans (``open`` takes the ``file://`` or ``s3://`` URIs ``iter_objects`` yields)."""

    def __init__(
        self, local: LocalStorage, s3: S3Storage | None = None, storage_options: dict[str, str] | None = None
    ) -> None:
        self.local = local
        self.s3 = s3
        self.storage_options = storage_options

    @classmethod
    def from_config(cls, config: StorageConfig) -> DeltaStorage:
        if config.s3 is None:
            return cls(LocalStorage(config.roots))
        from disgorge.storage.s3 import S3Storage

        return cls(LocalStorage(config.roots), S3Storage(config.s3), s3_storage_options(config.s3))

    def close(self) -> None:
        if self.s3 is not None:
            self.s3.close()

    def _need_s3(self, uri: str) -> S3Storage:
        if self.s3 is None:
            raise InputError(f"{uri}: no S3 endpoint configured for tables on S3")
        return self.s3

    def table(self, uri: str) -> tuple[str, str | None, str | None]:
        """(table location, column, value): a local table must be a folder inside a storage root."""
        base, _, fragment = uri.partition("#")
        loc = table_location(base)
        if loc.startswith("s3://"):
            self._need_s3(uri)
        else:
            info = self.local.stat(loc)
            if info is None or info.kind != "dir":
                raise InputError(f"{uri}: no table folder at {loc}")
        if not fragment:
            return loc, None, None
        column, eq, value = fragment.partition("=")
        if not eq:
            column, value = "asset_sha256", fragment
        return loc, column, value

    def delete_rows(self, table_uri: str, column: str, values: Sequence[Value]) -> RowDeletion:
        """:func:`delete_rows` on a table this backend accepts, with its S3 options."""
        return delete_rows(self.table(table_uri)[0], column, values, storage_options=self.storage_options)

    def verify_rows_gone(self, table_uri: str, column: str, values: Sequence[Value]) -> list[str]:
        return verify_rows_gone(
            self.table(table_uri)[0], column, values, storage_options=self.storage_options
        )

    def stat(self, uri: str) -> ObjectInfo | None:
        if uri.startswith("s3://"):
            return self._need_s3(uri).stat(uri)
        loc = table_location(uri)
        if not loc.startswith("s3://"):
            return self.local.stat(loc)
        files = list(self.iter_objects(uri))
        return ObjectInfo(uri.partition("#")[0], sum(f.size for f in files), kind="dir") if files else None

    def exists(self, uri: str) -> bool:
        table, column, value = self.table(uri)
        if column is None or value is None:
            return True
        dt = _open(table, self.storage_options)
        typed: Value = int(value) if _column_type(dt, column, table).startswith(("int", "uint")) else value
        return bool(_count(dt, column, [typed]))

    def open(self, uri: str) -> BinaryIO:
        if uri.startswith("s3://"):
            return self._need_s3(uri).open(uri)
        return self.local.open(table_location(uri))

    def iter_objects(self, root_uri: str) -> Iterator[ObjectInfo]:
        loc = table_location(root_uri)
        if loc.startswith("s3://"):
            return self._need_s3(root_uri).iter_objects(loc + "/")
        return self.local.iter_objects(loc)

    def check(self, uri: str, expected: Identity, *, rehash: bool = False) -> tuple[bool, str]:
        present = self.exists(uri)
        return present, "rows present" if present else "no matching rows"

    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence:
        """Delete the rows a ``#column=value`` fragment names, then purge history (rows have no size or
        hash to re-check: the key is the identity)."""
        try:
            table, column, value = self.table(uri)
        except InputError as exc:
            return DeleteEvidence(uri, "refused", exc.message)
        if column is None or value is None:
            return DeleteEvidence(uri, "refused", "a table is erased row by row: name rows as #column=value")
        ev = delete_rows(table, column, [value], storage_options=self.storage_options)
        outcome: Outcome = "deleted" if ev.rows_deleted else "already_gone"
        detail = f"{ev.rows_deleted} row(s) deleted; versions {ev.version_before}->{ev.version_after}; history purged"
        return DeleteEvidence(uri, outcome, detail, versions_deleted=ev.rows_deleted)
