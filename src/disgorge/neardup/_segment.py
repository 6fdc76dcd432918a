"""An immutable run of ``(id, code)`` rows, searched by brute force or by multi-index hashing.

Segments never change once sealed: adds make new segments, removes are tombstones, ``compact()``
rewrites. That is what lets a persisted segment be memory-mapped and shared without locks.

Which search path runs is decided per call from a cost model calibrated on the reference machine
(2-core AMD EPYC, numpy 2.4, see ``docs/benchmarks.md``): per comparison for brute force, per probe
and per candidate for MIH, plus a fixed numpy-call overhead per table. Both paths are exact, so the
choice only moves time, never results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from disgorge.neardup._codes import Codes, Dist, Ids, Rows, brute_range
from disgorge.neardup._mih import Layout, Tables, build_tables, choose_layout, mih_range

# Measured costs in nanoseconds (one core).
NS_COMPARE = 1.7
NS_PROBE = 25.0
NS_CANDIDATE = 45.0
NS_TABLE_CALL = 40_000.0
NS_BLOCK_CALL = 15_000.0
# Below this many rows a segment has no tables: brute force costs under ~0.1 ms per query.
MIN_TABLE_ROWS = 1 << 16


@dataclass
class Segment:
    """Rows ``ids[i], codes[i]``; ``seq`` orders segments for tombstones; ``name`` is its directory
    once persisted (None while only in memory)."""

    seq: int
    ids: Ids
    codes: Codes
    tables: Tables | None = None
    name: str | None = None
    _codes_t: Codes | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def seal(cls, seq: int, ids: Ids, codes: Codes) -> Segment:
        """Freeze rows into a segment, building tables if it is big enough to need them."""
        tables = None
        if ids.shape[0] >= MIN_TABLE_ROWS:
            tables = build_tables(codes, choose_layout(ids.shape[0]))
        return cls(seq=seq, ids=ids, codes=codes, tables=tables)

    def mih_cost(self, nq: int, radius: int) -> float:
        if self.tables is None:
            return float("inf")
        lay: Layout = self.tables.layout
        probes = lay.probes_per_query(radius)
        per_probe_rows = len(self) / float(1 << lay.width)
        return nq * probes * (NS_PROBE + per_probe_rows * NS_CANDIDATE) + lay.pieces * NS_TABLE_CALL

    def brute_cost(self, nq: int) -> float:
        return nq * len(self) * NS_COMPARE + (len(self) // 4096 + 1) * NS_BLOCK_CALL

    def method(self, nq: int, radius: int) -> str:
        """``"brute"`` or the MIH layout name, whichever the cost model expects to be faster."""
        if self.tables is not None and self.mih_cost(nq, radius) < self.brute_cost(nq):
            return self.tables.layout.name
        return "brute"

    def search(self, queries: Codes, radius: int) -> tuple[Rows, Rows, Dist]:
        """``(query row, segment row, distance)`` for every stored code within ``radius``."""
        if len(self) == 0 or queries.shape[0] == 0:
            z = np.zeros(0, dtype=np.intp)
            return z, z.copy(), np.zeros(0, dtype=np.uint32)
        if self.method(queries.shape[0], radius) != "brute":
            assert self.tables is not None
            return mih_range(self.tables, self.codes, queries, radius)
        if self._codes_t is None and len(self) <= MIN_TABLE_ROWS:
            self._codes_t = np.ascontiguousarray(self.codes.T)
        return brute_range(queries, self.codes, radius, self._codes_t)
