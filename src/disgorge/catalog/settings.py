"""Catalog-wide settings: a small repository over the ``settings`` table.

Every write appends a ledger event in the same transaction (values are fingerprints and counts, never
secrets or personal data), so a change of shared state is as tamper-evident as any catalog change.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from disgorge.catalog.schema import Setting, utcnow
from disgorge.errors import StoreError


class _Store(Protocol):
    def session(self) -> Any: ...

    def _log(self, s: Any, kind: str, body: dict[str, Any]) -> int: ...


_GET = select(Setting.value).where(Setting.key == bindparam("key"))


class Settings:
    def __init__(self, store: _Store) -> None:
        self._store = store

    def get(self, key: str) -> dict[str, Any] | None:
        """The value, kept by the store while no ``setting`` event is appended (every write here
        appends one in its transaction): the policy is read on every decision."""
        from disgorge.catalog.stamps import ledger_tops

        cache: dict[str, tuple[int, Any]] = self._store.__dict__.setdefault("_settings", {})
        with self._store.session() as s:
            stamp = ledger_tops(s)["setting"]
            hit = cache.get(key)
            if hit is None or hit[0] != stamp:
                hit = cache[key] = (stamp, s.connection().execute(_GET, {"key": key}).scalar())
        return copy.deepcopy(dict(hit[1])) if hit[1] is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._store.session() as s:
            row = s.get(Setting, key)
            if row is None:
                s.add(Setting(key=key, value=value))
            else:
                row.value = value
                row.updated_at = utcnow()
            self._store._log(s, "setting", {"key": key, "value": value})

    def put_if_absent(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        """Store ``value`` unless the key is set; return what is stored (first writer wins a race)."""
        current = self.get(key)
        if current is not None:
            return current
        try:
            with self._store.session() as s:
                s.add(Setting(key=key, value=value))
                s.flush()
                self._store._log(s, "setting", {"key": key, "value": value})
        except StoreError as exc:  # a concurrent writer stored it first
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        stored = self.get(key)
        assert stored is not None
        return stored
