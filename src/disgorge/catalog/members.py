"""Compact membership: roaring bitmaps of asset ids, and fetching member rows without one row per
member per dataset. A dense member set is read by an id-range scan filtered in memory; a sparse one
by chunked ``IN`` lists. Both are exact."""

from __future__ import annotations

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


def member_rows(s: Session, members: BitMap, columns: Sequence[Any], *, batch: int = 50_000) -> Iterator[Any]:
    """Yield ``(Asset.id, *columns)`` rows for every member id, in id order."""
    if not members:
        return
    lo, hi = members.min(), members.max()
    cols = [Asset.id, *columns]
    if len(members) * 4 >= hi - lo + 1:
        start = lo
        while start <= hi:
            stop = min(hi, start + batch - 1)
            q = select(*cols).where(Asset.id.between(start, stop)).order_by(Asset.id)
            for row in s.execute(q):
                if row[0] in members:
                    yield row
            start = stop + 1
        return
    ids = list(members)
    for i in range(0, len(ids), IN_CHUNK):
        yield from s.execute(select(*cols).where(Asset.id.in_(ids[i : i + IN_CHUNK])).order_by(Asset.id))
