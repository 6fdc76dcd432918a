"""Freshness stamps for what the gate keeps between decisions: the newest ledger index of each event
kind that changes it.

Each of these events is appended in the transaction that makes its change (a consent import, a subject
attribution, new assets, a source or notice, a setting such as the policy, a new dataset version, a
version marked as holding erased members, near copies of erased content flagged or unflagged, erased
assets' rows removed), so a cache that holds the index it was built at is still true while the index
has not moved, in this process or after another's change. The stamps are one grouped read, once per
session; an append in the session drops them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import LedgerKindTop

CACHE_KINDS = (
    "consent_import",
    "subject_attribution",
    "ingest_batch",
    "source",
    "setting",
    "dataset",
    "dataset_marked",
    "asset_flags",
    "assets_forgotten",
)
_TOPS = str(
    select(LedgerKindTop.kind, LedgerKindTop.seq)
    .where(LedgerKindTop.kind.in_(CACHE_KINDS))
    .compile(compile_kwargs={"literal_binds": True})
)
"""Rendered once with its constant kinds: on every gated call, so no statement building, cache-key or
IN-list expansion per execution (a third of its cost on SQLite)."""
SESSION_KEY = "ledger_tops"


def ledger_tops(s: Session) -> dict[str, int]:
    """The newest ledger index of each kind in :data:`CACHE_KINDS` (-1: none yet), read once per
    session; read before the cached data it guards, so a change committed in between is seen next time."""
    tops: dict[str, int] | None = s.info.get(SESSION_KEY)
    if tops is None:
        found = {str(k): int(v) for k, v in s.connection().exec_driver_sql(_TOPS)}
        tops = s.info[SESSION_KEY] = {k: int(found.get(k, -1)) for k in CACHE_KINDS}
    return tops
