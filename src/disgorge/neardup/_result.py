"""The answer to a range search: parallel arrays, one row per (query, id) pair."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Matches:
    """``query[i]`` (row of the queries argument) matched ``id[i]`` at Hamming ``distance[i]``.

    One row per (query, id): an id stored with several codes (dihedral variants, crops) reports its
    closest one. Rows are sorted by query, then distance, then id. Arrays, not tuples, because a join
    of millions of queries returns millions of rows; iterate for ``(query, id, distance)`` tuples.
    """

    query: npt.NDArray[np.int64]
    id: npt.NDArray[np.int64]
    distance: npt.NDArray[np.uint16]

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(zip(self.query.tolist(), self.id.tolist(), self.distance.tolist(), strict=True))

    def to_list(self) -> list[tuple[int, int, int]]:
        return list(self)

    @classmethod
    def empty(cls) -> Matches:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint16))

    @classmethod
    def collect(
        cls,
        query: npt.NDArray[np.int64],
        ids: npt.NDArray[np.int64],
        distance: npt.NDArray[np.integer],
    ) -> Matches:
        """Sort, and keep the smallest distance per (query, id)."""
        if query.shape[0] == 0:
            return cls.empty()
        order = np.lexsort((distance, ids, query))
        q, i, d = query[order], ids[order], distance[order].astype(np.uint16)
        first = np.ones(q.shape[0], dtype=bool)
        first[1:] = (q[1:] != q[:-1]) | (i[1:] != i[:-1])
        q, i, d = q[first], i[first], d[first]
        order = np.lexsort((i, d, q))
        return cls(q[order], i[order], d[order])

    @classmethod
    def concat(cls, parts: list[Matches]) -> Matches:
        """Join per-block results whose query ranges do not overlap and are in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.query for p in parts]),
            np.concatenate([p.id for p in parts]),
            np.concatenate([p.distance for p in parts]),
        )
