"""Reading the ledger back: entries, leaves and signed checkpoints (the writing side is ``StoreBase._log``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from disgorge.catalog.erasure import ErasureMixin
from disgorge.catalog.schema import LedgerCheckpoint, LedgerEntry
from disgorge.errors import NotFoundError


class LedgerMixin(ErasureMixin):
    def log_event(self, kind: str, body: dict[str, Any]) -> int:
        """Append an event that has no catalog change of its own (an execution batch, a certificate)."""
        with self.session() as s:
            return self._log(s, kind, body)

    def ledger_size(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)

    def ledger_entries(
        self, start: int = 0, end: int | None = None, batch: int = 100_000
    ) -> Iterator[tuple[int, str, bytes]]:
        """(index, canonical JSON, leaf hash) in index order."""
        last = start - 1
        while True:
            with self.session() as s:
                q = select(LedgerEntry.seq, LedgerEntry.entry, LedgerEntry.leaf).where(LedgerEntry.seq > last)
                if end is not None:
                    q = q.where(LedgerEntry.seq < end)
                rows = s.execute(q.order_by(LedgerEntry.seq).limit(batch)).all()
            if not rows:
                return
            for seq, entry, leaf in rows:
                yield int(seq), entry, bytes(leaf)
            last = rows[-1][0]

    def ledger_entry(self, seq: int) -> tuple[str, bytes]:
        with self.session() as s:
            row = s.execute(select(LedgerEntry.entry, LedgerEntry.leaf).where(LedgerEntry.seq == seq)).first()
        if row is None:
            raise NotFoundError(
                f"ledger entry {seq} does not exist", hint="see `disgorge ledger verify` for the size"
            )
        return row[0], bytes(row[1])

    def find_ledger_entries(self, kind: str, needle: str) -> list[tuple[int, str]]:
        """Entries of a kind whose JSON contains ``needle`` (a plan id, say)."""
        with self.session() as s:
            q = select(LedgerEntry.seq, LedgerEntry.entry).where(
                LedgerEntry.kind == kind, LedgerEntry.entry.contains(needle)
            )
            return [(int(a), b) for a, b in s.execute(q.order_by(LedgerEntry.seq))]

    def save_checkpoint(self, size: int, root: str, note: str) -> None:
        with self.session() as s:
            s.add(LedgerCheckpoint(size=size, root=root, note=note))

    def checkpoints(self) -> list[tuple[int, str, str]]:
        """(size, root hex, signed note) of every stored checkpoint, oldest first."""
        with self.session() as s:
            q = select(LedgerCheckpoint.size, LedgerCheckpoint.root, LedgerCheckpoint.note).order_by(
                LedgerCheckpoint.id
            )
            return [(int(a), b, c) for a, b, c in s.execute(q)]
