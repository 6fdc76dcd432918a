"""What the ledger says about recipients: channel bindings (signed ``recipient.set`` statements, each
re-verified on every read), the notices written and delivered (the catalog's own events), and the
acknowledgements (signed ``notice.ack`` statements). Nothing here trusts a table."""

from __future__ import annotations

import json
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.errors import VerificationFailed
from disgorge.trust import Signed
from disgorge.trust.notices import Binding, binding_digest, check_binding

WRITTEN = "notice_written"
DELIVERED = "notice_delivered"


class Records:
    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def _bindings(self, party: str | None) -> tuple[list[Binding], list[str]]:
        st = self.store.statements
        catalog, roster = st.catalog_id(), st.roster()
        good: list[Binding] = []
        bad: list[str] = []
        for index, signed in st.of_kinds(("recipient.set",), about=party):
            try:
                good.append(check_binding(catalog, index, signed, roster))
            except VerificationFailed as exc:
                bad.append(exc.message)
        return good, bad

    def current(self, party: str) -> Binding | None:
        """The party's channel binding now: its latest one, provided every one of its bindings verifies
        (a binding that does not, an insider's edit or forgery, stops delivery rather than being skipped)."""
        good, bad = self._bindings(party)
        if bad:
            raise VerificationFailed(
                bad[-1], hint="an admin sets the channel again: disgorge recipient set …"
            )
        return good[-1] if good else None

    def all_current(self) -> tuple[dict[str, Binding], list[str]]:
        """Every party's latest valid binding, and why each binding that does not verify was set aside."""
        good, bad = self._bindings(None)
        return {b.party: b for b in good}, bad

    def by_digest(self, digest: str) -> Binding | None:
        """The binding a notice names, verified; None if the ledger holds no statement with that digest."""
        st = self.store.statements
        for index, signed in st.of_kinds(("recipient.set",)):
            if binding_digest(signed) == digest:
                return check_binding(st.catalog_id(), index, signed, st.roster())
        return None

    def _events(self, kind: str, needle: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, json.loads(e)) for i, e in self.store.find_ledger_entries(kind, needle)]

    def written(self, plan_id: str, party: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, d) for i, d in self._events(WRITTEN, plan_id) if d.get("party") == party]

    def deliveries(self, plan_id: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, d) for i, d in self._events(DELIVERED, plan_id) if d.get("plan_id") == plan_id]

    def delivery_of(self, notice_id: str) -> tuple[int, dict[str, Any]] | None:
        hits = [(i, d) for i, d in self._events(DELIVERED, notice_id) if d.get("notice_id") == notice_id]
        return hits[0] if hits else None

    def acks(self, notice_id: str) -> list[tuple[int, Signed]]:
        return self.store.statements.of_kinds(("notice.ack",), about=notice_id)
