"""Set-membership lookups that stay cheap at batch sizes: one ``= ANY(array)`` on PostgreSQL (one bound
parameter, so the driver neither re-parses nor the server re-plans a 500-placeholder statement per
batch), chunked ``IN`` lists on SQLite (whose bound-parameter limit forbids one list)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

CHUNK = 500


def rows_where_in(
    s: Session, columns: list[Any], key: Any, values: Collection[Any], *extra: ColumnElement[bool]
) -> Iterator[Any]:
    """The rows of ``columns`` whose ``key`` is one of ``values`` (and every ``extra`` condition)."""
    if not values:
        return
    items = sorted(values)
    if s.get_bind().dialect.name == "postgresql":
        array = bindparam(None, items, type_=ARRAY(key.type))
        yield from s.execute(select(*columns).where(key == any_(array), *extra))
        return
    for i in range(0, len(items), CHUNK):
        yield from s.execute(select(*columns).where(key.in_(items[i : i + CHUNK]), *extra))
