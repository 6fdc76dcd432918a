"""What a witness remembers: per log origin, the latest checkpoint it cosigned, kept crash-safe.

A small SQLite file (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``: a commit is durable
once it returns (one fsync of the write-ahead log, ~0.4 ms here), a crash mid-write leaves the previous
state, and ``BEGIN IMMEDIATE`` makes the read-check-write of :meth:`WitnessState.compare_and_swap`
atomic even between two processes opened on the same file. A JSON file with fsync and rename would
need two fsyncs per update (file and directory) and an outside lock for the same guarantees.

The file is bound to one witness key: a state written under another key is refused, so a key change
cannot silently inherit, or drop, what another witness promised. Requests that were signed by a log
but refused (rollbacks, forks, bad proofs) are kept as evidence of misbehaviour, a bounded number per log.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disgorge.errors import InputError, StoreError

__all__ = ["EVIDENCE_PER_LOG", "STATE_FORMAT", "Evidence", "Recorded", "WitnessState"]

STATE_FORMAT = "disgorge-witness-state/1"
EVIDENCE_PER_LOG = 1000
"""Refused-but-signed requests kept per log; the oldest go first."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size TEXT NOT NULL,          -- decimal: tree sizes are uint64, beyond SQLite's signed INTEGER
    root BLOB NOT NULL,
    note TEXT NOT NULL,          -- the checkpoint as cosigned: the log's signatures and ours
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_by_origin ON evidence (origin, id);
"""


@dataclass(frozen=True)
class Recorded:
    """The latest checkpoint cosigned for one log."""

    size: int
    root: bytes
    note: str
    cosigned_at: int


@dataclass
class _Swap:
    origin: str
    expected: Recorded | None
    new: Recorded
    result: bool | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Evidence:
    origin: str
    received_at: int
    reason: str
    request: bytes


class WitnessState:
    """The witness's memory, one SQLite file; safe to share between threads."""

    def __init__(self, path: Path, witness_vkey: str) -> None:
        self.path = path
        self._lock = threading.Lock()  # one thread at a time on the connection
        self._queue_lock = threading.Condition()
        self._queue: list[_Swap] = []
        self._committing = False
        self.transactions = 0
        """Committed compare-and-swap transactions (each one fsync), for tests and benchmarks."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            if new:
                os.chmod(path, 0o600)
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(_SCHEMA)
                self._bind(witness_vkey)
            except BaseException:
                self._conn.close()
                raise
            if new:
                _fsync_dir(path.parent)
        except sqlite3.Error as exc:
            raise StoreError(
                f"witness state {path}: cannot open it ({exc})",
                hint="check the path is a writable SQLite file that no other program holds",
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> WitnessState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, origin: str) -> Recorded | None:
        """The latest cosigned checkpoint for ``origin``, or None if it never cosigned one."""
        with self._lock:
            row = self._query("SELECT size, root, note, cosigned_at FROM logs WHERE origin = ?", (origin,))
        return None if row is None else Recorded(int(row[0]), bytes(row[1]), str(row[2]), int(row[3]))

    def compare_and_swap(self, origin: str, expected: Recorded | None, new: Recorded) -> bool:
        """Store ``new`` only if the stored (size, root) is still ``expected``'s; False if it moved.

        Durable when it returns True: the spec requires persisting before the cosignature is sent.
        Concurrent calls (other logs' requests) are committed together, one fsync for the group: the
        first caller to find no commit running commits everything queued, in order, in one transaction.
        """
        op = _Swap(origin, expected, new)
        with self._queue_lock:
            self._queue.append(op)
            while op.result is None and op.error is None:
                if self._committing:
                    self._queue_lock.wait()
                    continue
                self._committing = True
                batch, self._queue = self._queue, []
                self._queue_lock.release()
                try:
                    self._commit(batch)
                finally:
                    self._queue_lock.acquire()
                    self._committing = False
                    self._queue_lock.notify_all()
        if op.error is not None:
            raise op.error
        return bool(op.result)

    def _commit(self, batch: list[_Swap]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    results = [self._swap(op) for op in batch]
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                self.transactions += 1
            except sqlite3.Error as exc:
                error = StoreError(f"witness state {self.path}: cannot record the checkpoint ({exc})")
                for op in batch:
                    op.error = error
                return
            except BaseException as exc:
                for op in batch:
                    op.error = exc
                raise
        for op, result in zip(batch, results, strict=True):
            op.result = result

    def _swap(self, op: _Swap) -> bool:
        row = self._conn.execute("SELECT size, root FROM logs WHERE origin = ?", (op.origin,)).fetchone()
        current = None if row is None else (int(row[0]), bytes(row[1]))
        wanted = None if op.expected is None else (op.expected.size, op.expected.root)
        if current != wanted:
            return False
        new = op.new
        self._conn.execute(
            "INSERT INTO logs (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, cosigned_at = excluded.cosigned_at",
            (op.origin, str(new.size), new.root, new.note, new.cosigned_at),
        )
        return True

    def record_evidence(self, origin: str, reason: str, request: bytes) -> None:
        """Keep a log-signed request the witness refused; it may prove the log misbehaved."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO evidence (origin, received_at, reason, request) VALUES (?, ?, ?, ?)",
                    (origin, int(time.time()), reason, request),
                )
                self._conn.execute(
                    "DELETE FROM evidence WHERE origin = ? AND id <= (SELECT id FROM evidence WHERE origin = ? "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (origin, origin, EVIDENCE_PER_LOG),
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"witness state {self.path}: cannot record evidence ({exc})") from exc

    def evidence(self, origin: str) -> list[Evidence]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT origin, received_at, reason, request FROM evidence WHERE origin = ? ORDER BY id",
                (origin,),
            ).fetchall()
        return [Evidence(str(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    def _query(self, sql: str, args: tuple[object, ...]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._conn.execute(sql, args).fetchone()
            return row
        except sqlite3.Error as exc:
            raise StoreError(f"witness state {self.path}: cannot read it ({exc})") from exc

    def _bind(self, witness_vkey: str) -> None:
        rows = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", STATE_FORMAT), ("witness", witness_vkey)],
            )
            self._conn.execute("COMMIT")
            return
        if rows.get("format") != STATE_FORMAT:
            raise InputError(
                f"witness state {self.path} has format {rows.get('format')!r}, not {STATE_FORMAT}"
            )
        if rows.get("witness") != witness_vkey:
            raise InputError(
                f"witness state {self.path} belongs to witness {rows.get('witness')}, not {witness_vkey}",
                hint="each witness key keeps its own state file; pass the state that key wrote",
            )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
