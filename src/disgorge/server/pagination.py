"""One page of a list endpoint: ``items`` and the ``next`` cursor (absent on the last page).

Cursors are opaque to clients; here, the offset of the next item, so lists stay stable while the
catalog only grows (every listed thing is append-only or ordered by its creation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel

from disgorge.errors import UsageError

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None


def offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise UsageError(f"cursor {cursor[:40]!r} is not one this server gave", hint="start without ?cursor")
    return int(cursor)


def page(items: Sequence[T], cursor: str | None, limit: int) -> Page[T]:
    """A page cut from a whole list (for lists the catalog cannot yet window itself)."""
    start = offset(cursor)
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page[T](items=chunk, next=str(start + limit) if more else None)
