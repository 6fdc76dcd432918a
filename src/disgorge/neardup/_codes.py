"""256-bit codes as numpy arrays, and the popcount kernels every search path ends in.

A code (a PDQ hash) is 32 bytes. Internally it is one row of a C-contiguous ``uint64`` array of shape
``(n, 4)``: the 32 bytes read as four little-endian words, so ``codes.view(np.uint8)`` gives the
original bytes back. Hamming distance does not depend on that choice; piece extraction in
:mod:`disgorge.neardup._mih` only needs it to be the same for queries and stored codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from disgorge.errors import InputError

Codes = npt.NDArray[np.uint64]
Ids = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Dist = npt.NDArray[np.uint32]

CODE_BYTES = 32
CODE_WORDS = 4
CODE_BITS = 256
_ALL_64 = 0x40404040  # four popcount bytes of 64 each: a distance of 256, which the byte sum wraps to 0


def as_codes(value: Any, *, name: str = "codes") -> Codes:
    """Normalise bytes, a list of bytes, ``uint8 (n, 32)`` or ``uint64 (n, 4)`` to ``uint64 (n, 4)``.

    One entry point so every public method accepts the same spellings and rejects the rest with a
    message that names the argument, instead of failing deep in a kernel with a broadcast error.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != CODE_BYTES:
            raise InputError(f"{name}: expected {CODE_BYTES} bytes, got {len(raw)}")
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(1, CODE_WORDS)
    if not isinstance(value, np.ndarray):
        return _from_sequence(value, name)
    arr = value
    if arr.dtype == np.uint8:
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != CODE_BYTES:
            raise InputError(f"{name}: expected a uint8 array of shape (n, 32), got shape {value.shape}")
        return np.ascontiguousarray(arr).view("<u8").astype(np.uint64, copy=False).reshape(-1, CODE_WORDS)
    if arr.dtype == np.uint64:
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != CODE_WORDS:
            raise InputError(f"{name}: expected a uint64 array of shape (n, 4), got shape {value.shape}")
        return np.ascontiguousarray(arr)
    raise InputError(
        f"{name}: expected bytes, uint8 (n, 32) or uint64 (n, 4), got an array of dtype {arr.dtype}",
        hint="PDQ hashes as hex strings can be converted with bytes.fromhex(h)",
    )


def _from_sequence(value: Any, name: str) -> Codes:
    if not isinstance(value, Iterable) or isinstance(value, str):
        raise InputError(f"{name}: expected bytes or an array of codes, got {type(value).__name__}")
    items = list(value)
    if not all(isinstance(v, bytes | bytearray) and len(v) == CODE_BYTES for v in items):
        raise InputError(f"{name}: expected a sequence of 32-byte values")
    if not items:
        return np.zeros((0, CODE_WORDS), dtype=np.uint64)
    return np.frombuffer(b"".join(bytes(v) for v in items), dtype="<u8").astype(np.uint64).reshape(-1, 4)


def as_ids(value: Any, count: int) -> Ids:
    """Normalise ids to a contiguous ``int64`` vector of the expected length."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"ids: expected a 1-d integer array, got dtype {arr.dtype} and shape {arr.shape}")
    if count >= 0 and arr.shape[0] != count:
        raise InputError(f"ids: expected {count} ids (one per code), got {arr.shape[0]}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InputError("ids: values must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_radius(radius: int) -> int:
    """Radius is inclusive and must lie in ``0..256``; anything else is a caller's mistake."""
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise InputError(f"radius: expected an integer, got {type(radius).__name__}")
    r = int(radius)
    if not 0 <= r <= CODE_BITS:
        raise InputError(f"radius: expected 0..256, got {r}")
    return r


def popcount_rows(x: Codes) -> Dist:
    """Bit count of each row of ``x`` (destroyed: used as scratch). Exact, including 256."""
    pc = np.bitwise_count(x)  # uint8 (k, 4), each byte <= 64
    packed = pc.view(np.uint32).reshape(-1)
    # The top byte of packed * 0x01010101 is the byte sum modulo 256 (lower partial sums stay < 256).
    total = np.multiply(packed, np.uint32(0x01010101)) >> np.uint32(24)
    total[packed == _ALL_64] = CODE_BITS
    return total


def pair_distances(codes: Codes, rows: Rows, queries: Codes, qidx: Rows) -> Dist:
    """Distance between ``codes[rows[i]]`` and ``queries[qidx[i]]`` for each i (gathers with take)."""
    x = np.take(codes, rows, axis=0)
    np.bitwise_xor(x, np.take(queries, qidx, axis=0), out=x)
    return popcount_rows(x)


def brute_range(
    queries: Codes, codes: Codes, radius: int, codes_t: Codes | None = None
) -> tuple[Rows, Rows, Dist]:
    """All ``(query row, code row, distance)`` with distance <= radius, by blocked comparison.

    Query and code blocks are compared as an outer product on transposed words, so every numpy pass
    is a long contiguous loop; a block of ``qb x cb`` stays in L2. ``codes_t`` is an optional
    precomputed ``codes.T`` (contiguous) to skip the per-block transpose.
    """
    nq, n = queries.shape[0], codes.shape[0]
    empty = np.zeros(0, dtype=np.intp)
    if nq == 0 or n == 0:
        return empty, empty.copy(), np.zeros(0, dtype=np.uint32)
    if codes_t is None and nq <= 4:
        return _brute_rowwise(queries, codes, radius)
    qb = min(nq, 64)
    cb = max(4096, 65536 // qb)
    q_t = np.ascontiguousarray(queries.T)
    out_q: list[Rows] = []
    out_r: list[Rows] = []
    r8 = np.uint8(min(radius, 255))
    # Scratch reused across blocks: allocation and page faults cost as much as the arithmetic.
    x_buf = np.empty((qb, cb), dtype=np.uint64)
    acc_buf = np.empty((qb, cb), dtype=np.uint8)
    pc_buf = np.empty((qb, cb), dtype=np.uint8)
    hit_buf = np.empty((qb, cb), dtype=bool)
    for c0 in range(0, n, cb):
        c1 = min(n, c0 + cb)
        blk = codes_t[:, c0:c1] if codes_t is not None else np.ascontiguousarray(codes[c0:c1].T)
        for q0 in range(0, nq, qb):
            q1 = min(nq, q0 + qb)
            x, acc = x_buf[: q1 - q0, : c1 - c0], acc_buf[: q1 - q0, : c1 - c0]
            pc, hit = pc_buf[: q1 - q0, : c1 - c0], hit_buf[: q1 - q0, : c1 - c0]
            np.bitwise_xor(q_t[0, q0:q1, None], blk[0, None, :], out=x)
            np.bitwise_count(x, out=acc)
            for w in range(1, CODE_WORDS):
                np.bitwise_xor(q_t[w, q0:q1, None], blk[w, None, :], out=x)
                np.bitwise_count(x, out=pc)
                np.add(acc, pc, out=acc)  # wraps only at exactly 256: rechecked below
            np.less_equal(acc, r8, out=hit)
            if hit.any():
                hit_q, hit_c = np.nonzero(hit)
                out_q.append(hit_q + q0)
                out_r.append(hit_c + c0)
    if not out_q:
        return empty, empty.copy(), np.zeros(0, dtype=np.uint32)
    qi = np.concatenate(out_q).astype(np.intp, copy=False)
    ri = np.concatenate(out_r).astype(np.intp, copy=False)
    d = pair_distances(codes, ri, queries, qi)
    keep = d <= radius
    return qi[keep], ri[keep], d[keep]


def _brute_rowwise(queries: Codes, codes: Codes, radius: int) -> tuple[Rows, Rows, Dist]:
    """Brute force for a handful of queries: scanning rows in place beats transposing each block."""
    out_q: list[Rows] = []
    out_r: list[Rows] = []
    out_d: list[Dist] = []
    step = 1 << 16
    for c0 in range(0, codes.shape[0], step):
        blk = codes[c0 : c0 + step]
        for qi in range(queries.shape[0]):
            d = popcount_rows(np.bitwise_xor(blk, queries[qi]))
            hits = np.flatnonzero(d <= radius)
            if hits.size:
                out_q.append(np.full(hits.shape, qi, dtype=np.intp))
                out_r.append(hits + c0)
                out_d.append(d[hits])
    if not out_q:
        z = np.zeros(0, dtype=np.intp)
        return z, z.copy(), np.zeros(0, dtype=np.uint32)
    return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)
