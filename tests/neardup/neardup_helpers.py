"""Helpers for the near-duplicate index tests: a naive reference search in plain Python.

A plain module (not conftest) so tests import it by name; pytest puts this directory on sys.path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def naive_search(
    ids: Sequence[int], codes: Sequence[bytes], queries: Sequence[bytes], radius: int
) -> list[tuple[int, int, int]]:
    """(query, id, smallest distance) for every pair within radius, by Python integer popcount."""
    stored = [int.from_bytes(c, "little") for c in codes]
    best: dict[tuple[int, int], int] = {}
    for qi, q in enumerate(queries):
        qv = int.from_bytes(q, "little")
        for i, c in zip(ids, stored, strict=True):
            d = (qv ^ c).bit_count()
            if d <= radius and d < best.get((qi, i), 257):
                best[(qi, i)] = d
    return sorted((q, i, d) for (q, i), d in best.items())


def flip_bits(code: bytes, positions: Sequence[int]) -> bytes:
    """``code`` with the given bit positions (0..255, little-endian bit order) inverted."""
    v = int.from_bytes(code, "little")
    for p in positions:
        v ^= 1 << p
    return v.to_bytes(32, "little")


def random_codes(rng: np.random.Generator, n: int) -> list[bytes]:
    return [bytes(row) for row in rng.integers(0, 256, size=(n, 32), dtype=np.uint8)]
