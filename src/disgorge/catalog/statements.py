"""Signed statements in the ledger: a small repository over ``ledger_entries``.

A statement's ledger entry has the statement's kind as its ``kind`` (indexed), and carries the statement
and signature verbatim, so the roster and a plan's authorization are read back, and re-verified, from the
tamper-evident log itself rather than from a table anyone with SQL access could edit.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from disgorge.catalog.schema import LedgerEntry
from disgorge.errors import VerificationFailed

if TYPE_CHECKING:
    from disgorge.trust import Signed

ROSTER_KINDS = ("roster.genesis", "roster.add", "roster.update", "roster.revoke")
CATALOG_ID = "catalog_id"


class _Store(Protocol):
    def session(self) -> Any: ...

    def _log(self, s: Any, kind: str, body: dict[str, Any]) -> int: ...

    @property
    def settings(self) -> Any: ...


class Statements:
    def __init__(self, store: _Store) -> None:
        self._store = store

    def catalog_id(self) -> str:
        """This catalog's random id, which every statement names (so none can be replayed elsewhere)."""
        doc = self._store.settings.put_if_absent(CATALOG_ID, {"id": secrets.token_hex(16)})
        return str(doc["id"])

    def append(self, s: Any, signed: Signed) -> int:
        """Append a statement in the caller's transaction; returns its ledger index."""
        return self._store._log(s, signed.kind, signed.to_json())

    def add(self, signed: Signed) -> int:
        with self._store.session() as s:
            return self.append(s, signed)

    def of_kinds(self, kinds: tuple[str, ...], about: str | None = None) -> list[tuple[int, Signed]]:
        """Statements of these kinds (about one thing, if given), in ledger order."""
        from disgorge.trust import parse

        q = select(LedgerEntry.seq, LedgerEntry.entry).where(LedgerEntry.kind.in_(kinds))
        if about is not None:
            q = q.where(LedgerEntry.entry.contains(about))
        with self._store.session() as s:
            rows = s.execute(q.order_by(LedgerEntry.seq)).all()
        out: list[tuple[int, Signed]] = []
        for seq, entry in rows:
            doc = json.loads(entry)
            try:
                signed = parse({"statement": doc.get("statement"), "signature": doc.get("signature")})
            except VerificationFailed as exc:
                raise VerificationFailed(f"ledger entry {seq}: {exc.message}") from exc
            if about is None or signed.about == about:
                out.append((int(seq), signed))
        return out

    def roster(self) -> list[tuple[int, Signed]]:
        return self.of_kinds(ROSTER_KINDS)
