"""Compact membership: roaring bitmaps of asset ids, and fetching member rows without one row per
member per dataset. A dense member set is read by an id-range scan filtered in memory; a sparse one
by chunked ``IN`` lists. Both are exact."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Asset

IN_CHUNK = 900


def to_blob(bm: BitMap) -> bytes:
    bm.run_optimize()
    return bytes(bm.serialize())


def from_blob(blob: bytes) -> BitMap:
    return BitMap.deserialize(blob)


ClassKey = tuple[int, tuple[str, ...], bool]
"""An asset class for purpose decisions: (notice id, sorted data categories, has a known subject).
Notice and categories are fixed when an asset is registered; a subject can be attributed later, and
``AssetsMixin._attribute`` then moves the asset into its has-subject class in every dataset version."""


def encode_classes(classes: dict[ClassKey, BitMap]) -> bytes:
    blobs = [to_blob(bm) for bm in classes.values()]
    header = json.dumps(
        [[n, list(c), h, len(b)] for (n, c, h), b in zip(classes, blobs, strict=True)], separators=(",", ":")
    ).encode()
    return len(header).to_bytes(4, "big") + header + b"".join(blobs)


def decode_classes(blob: bytes) -> dict[ClassKey, BitMap]:
    size = int.from_bytes(blob[:4], "big")
    pos = 4 + size
    out: dict[ClassKey, BitMap] = {}
    for notice_id, cats, has_subject, length in json.loads(blob[4:pos]):
        out[(int(notice_id), tuple(cats), bool(has_subject))] = from_blob(blob[pos : pos + length])
        pos += length
    return out


def member_rows(
    s: Session, members: BitMap, columns: Sequence[Any], *, id_col: Any = Asset.id, batch: int = 50_000
) -> Iterator[Any]:
    """Yield ``(id_col, *columns)`` rows whose ``id_col`` is in ``members`` (asset ids by default; any
    column holding asset ids, such as ``Copy.asset_id``, works), in id order."""
    if not members:
        return
    lo, hi = members.min(), members.max()
    cols = [id_col, *columns]
    if len(members) * 4 >= hi - lo + 1:
        start = lo
        while start <= hi:
            stop = min(hi, start + batch - 1)
            q = select(*cols).where(id_col.between(start, stop)).order_by(id_col)
            for row in s.execute(q):
                if row[0] in members:
                    yield row
            start = stop + 1
        return
    ids = list(members)
    for i in range(0, len(ids), IN_CHUNK):
        yield from s.execute(select(*cols).where(id_col.in_(ids[i : i + IN_CHUNK])).order_by(id_col))


def member_columns(s: Session, members: BitMap, *, batch: int = 500_000) -> tuple[Any, ...]:
    """Columnar (id, notice_id, subject_id or -1, categories as JSON text) for every member, via the
    driver's cursor: at millions of members per-row ORM objects would dominate the cost."""
    import numpy as np

    parts: list[tuple[Any, Any, Any, list[str]]] = []
    if members:
        conn = s.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "SELECT id, notice_id, COALESCE(subject_id, -1), CAST(categories AS TEXT) FROM assets "
            f"WHERE id >= {mark} AND id <= {mark} ORDER BY id"
        )
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        wanted = np.array(members.to_array(), dtype=np.int64)
        dense = len(members) * 4 >= members.max() - members.min() + 1
        step = batch if dense else IN_CHUNK
        ranges = (
            [
                (lo, min(members.max(), lo + batch - 1))
                for lo in range(members.min(), members.max() + 1, batch)
            ]
            if dense
            else [
                (members[i], members[min(i + step, len(members)) - 1]) for i in range(0, len(members), step)
            ]
        )
        for lo, hi in ranges:
            cur.execute(sql, (lo, hi))
            rows = cur.fetchall()
            if not rows:
                continue
            a_ids, a_notices, a_subjects, a_cats = zip(*rows, strict=True)
            ids = np.array(a_ids, dtype=np.int64)
            keep = np.isin(ids, wanted[(wanted >= lo) & (wanted <= hi)], assume_unique=True)
            idx = np.flatnonzero(keep)
            parts.append(
                (
                    ids[idx],
                    np.array(a_notices, dtype=np.int64)[idx],
                    np.array(a_subjects, dtype=np.int64)[idx],
                    [a_cats[i] for i in idx],
                )
            )
        cur.close()
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, []
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        [c for p in parts for c in p[3]],
    )
