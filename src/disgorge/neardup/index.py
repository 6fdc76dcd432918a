"""``HammingIndex``: exact range search over 256-bit codes, in memory or persisted in a directory.

Exact means recall 1.0 at any radius by construction (multi-index hashing with the pigeonhole
bound, or brute force, chosen per segment by a cost model) and no result beyond the radius (every
candidate is verified with a full popcount). An approximate index could not prove a copy is gone.

State is a list of immutable segments plus tombstones. ``add`` buffers rows in memory; the buffer is
sealed into a segment (together with any small segments) when searched or saved. ``remove`` hides
ids in every segment sealed so far (a later ``add`` of the same id is visible again). ``save``
commits atomically (see ``_store``); ``compact`` rewrites everything into one segment and drops
tombstoned rows; call it after large batches of adds or removes, since each segment with tables is
searched separately.

Searches are read-only and may run from several threads; changes (``add``, ``remove``, ``save``,
``compact``, and the first search after an ``add``, which seals) need one caller at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from disgorge.errors import UsageError
from disgorge.neardup import _segment, _store
from disgorge.neardup._codes import Codes, Ids, as_codes, as_ids, check_radius
from disgorge.neardup._result import Matches
from disgorge.neardup._segment import Segment

DEFAULT_RADIUS = 31  # PDQ's match threshold
DEFAULT_BLOCK = 1024  # queries per block: ~100 MB of per-table scratch per thread at 10M codes


class HammingIndex:
    """Exact Hamming range search over 256-bit codes (PDQ hashes) with integer ids."""

    def __init__(self, *, threads: int | None = None) -> None:
        """An empty in-memory index. ``threads`` defaults to the CPU count, capped at 8."""
        self._threads = max(1, threads if threads is not None else min(8, os.cpu_count() or 1))
        self._segments: list[Segment] = []
        self._pending_ids: list[Ids] = []
        self._pending_codes: list[Codes] = []
        self._tomb = np.zeros((0, 2), dtype=np.int64)  # sorted by id: (id, hides seq <= value)
        self._next_seq = 1
        self._directory: Path | None = None
        self._tomb_name: str | None = None  # committed tombstone file, None when changed since
        self._dirty = False
        self._len_cache: int | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, create: bool = True, threads: int | None = None
    ) -> HammingIndex:
        """Open the index persisted in ``directory`` (memory-mapped), creating an empty one if allowed."""
        path = Path(directory)
        _store.init_directory(path, create)
        manifest = _store.read_manifest(path)
        index = cls(threads=threads)
        index._directory = path
        index._next_seq = manifest.next_seq
        index._segments = [_store.load_segment(path, e) for e in manifest.segments]
        index._tomb = _store.load_tombstones(path, manifest.tombstones)
        index._tomb_name = manifest.tombstones
        return index

    @property
    def directory(self) -> Path | None:
        return self._directory

    @property
    def unsaved(self) -> bool:
        """Whether adds or removes happened since the last ``save`` (or ``open``)."""
        return self._dirty

    def close(self) -> None:
        """Drop memory maps and buffers; unsaved changes are discarded (call ``save`` first)."""
        self._segments, self._pending_ids, self._pending_codes = [], [], []
        self._len_cache = None
        self._closed = True

    def _check_open(self) -> None:
        # A closed index has dropped its segments: saving it would commit an empty index.
        if self._closed:
            raise UsageError("this near-duplicate index is closed", hint="open it again")

    def __enter__(self) -> HammingIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- changes ---------------------------------------------------------------------------------

    def add(self, ids: npt.ArrayLike, codes: Any) -> None:
        """Add one row per code. An id may have several codes; a search reports its closest one."""
        self._check_open()
        c = as_codes(codes)
        i = as_ids(ids, c.shape[0])
        if c.shape[0] == 0:
            return
        self._pending_ids.append(i.copy())
        self._pending_codes.append(c.copy())
        self._changed()

    def remove(self, ids: npt.ArrayLike) -> None:
        """Hide every code of these ids from searches (until they are added again)."""
        self._check_open()
        gone = np.unique(as_ids(ids, -1))
        if gone.size == 0:
            return
        for k, pid in enumerate(self._pending_ids):
            keep = ~np.isin(pid, gone)
            self._pending_ids[k], self._pending_codes[k] = pid[keep], self._pending_codes[k][keep]
        upto = self._next_seq - 1  # every sealed segment, saved or not
        new = np.stack([gone, np.full(gone.shape, upto, dtype=np.int64)], axis=1)
        both = np.concatenate([self._tomb, new])
        both = both[np.lexsort((both[:, 1], both[:, 0]))]
        last = np.ones(both.shape[0], dtype=bool)
        last[:-1] = both[1:, 0] != both[:-1, 0]
        self._tomb = np.ascontiguousarray(both[last])
        self._tomb_name = None
        self._changed()

    def _changed(self) -> None:
        self._dirty = True
        self._len_cache = None

    def _seal(self) -> None:
        """Turn buffered adds into a segment, folding in the small (table-less) segments so that
        add-then-search loops do not pile up thousands of tiny segments. The merged segment gets a
        new seq, so rows hidden by tombstones are dropped here rather than carried over."""
        if not self._pending_ids:
            return
        small = [s for s in self._segments if len(s) < _segment.MIN_TABLE_ROWS]
        ids_parts, code_parts = [], []
        for seg in small:
            live = ~self._hidden(np.asarray(seg.ids), seg.seq)
            ids_parts.append(np.asarray(seg.ids)[live])
            code_parts.append(np.asarray(seg.codes)[live])
        ids = np.concatenate(ids_parts + self._pending_ids)
        codes = np.concatenate(code_parts + self._pending_codes)
        self._pending_ids, self._pending_codes = [], []
        self._segments = [s for s in self._segments if len(s) >= _segment.MIN_TABLE_ROWS]
        if ids.shape[0]:
            self._segments.append(Segment.seal(self._next_seq, ids, codes))
            self._next_seq += 1

    # -- search ----------------------------------------------------------------------------------

    def range_search(self, queries: Any, radius: int = DEFAULT_RADIUS) -> Matches:
        """Every (query row, id, distance) with distance <= ``radius``; exact, radius inclusive."""
        return self.join(queries, radius)

    def join(self, queries: Any, radius: int = DEFAULT_RADIUS, *, block: int = DEFAULT_BLOCK) -> Matches:
        """Many-vs-many range search: queries are cut into blocks shared by ``threads`` workers.

        The cost grows with the number of queries times the per-query cost of the indexed side, so
        index the larger set and pass the smaller one as queries.
        """
        self._check_open()
        q = as_codes(queries, name="queries")
        r = check_radius(radius)
        if block < 1:
            raise UsageError(f"block: expected a positive number of queries, got {block}")
        self._seal()
        if q.shape[0] == 0 or not self._segments:
            return Matches.empty()
        starts = list(range(0, q.shape[0], block))
        workers = min(self._threads, len(starts))
        if workers <= 1:
            return Matches.concat([self._search_block(q, s, block, r) for s in starts])
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="neardup") as pool:
            parts = list(pool.map(lambda s: self._search_block(q, s, block, r), starts))
        return Matches.concat(parts)

    def _search_block(self, queries: Codes, start: int, block: int, radius: int) -> Matches:
        qb = queries[start : start + block]
        qs: list[npt.NDArray[np.int64]] = []
        ids: list[npt.NDArray[np.int64]] = []
        ds: list[npt.NDArray[np.uint32]] = []
        for seg in self._segments:
            qi, rows, d = seg.search(qb, radius)
            if qi.size == 0:
                continue
            found = np.asarray(seg.ids).take(rows)
            live = ~self._hidden(found, seg.seq)
            qs.append(qi[live].astype(np.int64) + start)
            ids.append(found[live])
            ds.append(d[live])
        if not qs:
            return Matches.empty()
        return Matches.collect(np.concatenate(qs), np.concatenate(ids), np.concatenate(ds))

    def _hidden(self, ids: Ids, seq: int) -> npt.NDArray[np.bool_]:
        """Which of these rows (all from a segment with this seq) a tombstone hides."""
        if self._tomb.shape[0] == 0:
            return np.zeros(ids.shape, dtype=bool)
        tomb_ids = self._tomb[:, 0]
        pos = np.minimum(np.searchsorted(tomb_ids, ids), tomb_ids.shape[0] - 1)
        hidden: npt.NDArray[np.bool_] = (tomb_ids[pos] == ids) & (self._tomb[pos, 1] >= seq)
        return hidden

    def __len__(self) -> int:
        """Number of live codes (rows), not of distinct ids."""
        if self._len_cache is None:
            live = sum(int(p.shape[0]) for p in self._pending_ids)
            for seg in self._segments:
                live += len(seg) - int(np.count_nonzero(self._hidden(np.asarray(seg.ids), seg.seq)))
            self._len_cache = live
        return self._len_cache

    def stats(self) -> dict[str, Any]:
        """Segments (rows, search layout), tombstones and buffered rows, for reports and tuning."""
        return {
            "directory": str(self._directory) if self._directory else None,
            "segments": [
                {"seq": s.seq, "rows": len(s), "layout": s.tables.layout.name if s.tables else "brute"}
                for s in self._segments
            ],
            "tombstones": int(self._tomb.shape[0]),
            "pending_rows": sum(int(p.shape[0]) for p in self._pending_ids),
        }

    def live_rows(self) -> Iterator[tuple[Ids, Codes]]:
        """``(ids, codes)`` of live rows, one chunk per segment (what ``compact`` keeps)."""
        self._seal()
        for seg in self._segments:
            keep = ~self._hidden(np.asarray(seg.ids), seg.seq)
            yield np.asarray(seg.ids)[keep], np.asarray(seg.codes)[keep]

    # -- persistence -----------------------------------------------------------------------------

    def save(self) -> None:
        """Commit buffered adds and removes. Atomic: after a crash, reopening shows the state of the
        last completed ``save`` and nothing of this one."""
        self._check_open()
        directory = self._require_directory()
        self._seal()
        written = {id(s): _store.write_segment(directory, s) for s in self._segments if s.name is None}
        self._commit(directory, written)

    def compact(self) -> None:
        """Rewrite all live rows into one segment (dropping tombstoned rows and small segments);
        persisted indexes commit the result at once."""
        self._check_open()
        chunks = list(self.live_rows())
        ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.int64)
        codes = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0, 4), np.uint64)
        merged = [Segment.seal(self._next_seq, ids, codes)] if ids.shape[0] else []
        next_seq = self._next_seq + 1
        written = {}
        if self._directory is not None:
            written = {id(s): _store.write_segment(self._directory, s) for s in merged}
        self._segments, self._tomb, self._next_seq = merged, np.zeros((0, 2), np.int64), next_seq
        self._tomb_name = None
        self._len_cache = None
        if self._directory is not None:
            self._commit(self._directory, written)

    def _commit(self, directory: Path, written: dict[int, dict[str, Any]]) -> None:
        entries = [written.get(id(s)) or self._entry(s) for s in self._segments]
        tomb_name = self._tomb_name
        if self._tomb.size and tomb_name is None:
            tomb_name = _store.write_tombstones(directory, self._next_seq, self._tomb)
        manifest = _store.Manifest(self._next_seq, tuple(entries), tomb_name if self._tomb.size else None)
        _store.commit(directory, manifest)
        self._tomb_name = manifest.tombstones
        # Committed: swap in-memory segments for memory maps of the files, and drop leftovers.
        self._segments = [_store.load_segment(directory, e) for e in entries]
        self._dirty = False
        _store.collect_garbage(directory, manifest)

    @staticmethod
    def _entry(seg: Segment) -> dict[str, Any]:
        layout = seg.tables.layout.name if seg.tables else None
        return {"name": seg.name, "seq": seg.seq, "rows": len(seg), "layout": layout}

    def _require_directory(self) -> Path:
        if self._directory is None:
            raise UsageError(
                "this index lives in memory only", hint="use HammingIndex.open(directory) to persist it"
            )
        return self._directory
