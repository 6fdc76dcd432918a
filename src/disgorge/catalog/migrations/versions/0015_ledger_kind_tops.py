"""ledger_kind_tops: the newest ledger index of each event kind, kept by a trigger

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00

The caches' stamps (``catalog/stamps.py``) are the newest index of a few kinds, read on every gated
call. As a ``max(seq) ... GROUP BY kind`` over the ledger that read grew with the ledger: 0.6 ms at
2,000 entries, 2.9 ms at 12,000 on PostgreSQL, where the plan a pooled connection prepared while the
ledger was small is kept (and with autovacuum off, never re-planned). A row per kind, kept by a trigger
on every insert whatever the writer, makes it a read of a few rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PG_TRIGGER = """
CREATE FUNCTION disgorge_ledger_kind_tops() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_kind_tops (kind, seq)
    SELECT kind, max(seq) FROM appended GROUP BY kind
  ON CONFLICT (kind) DO UPDATE SET seq = greatest(ledger_kind_tops.seq, EXCLUDED.seq);
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_kind_tops_after_insert AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION disgorge_ledger_kind_tops();
"""

SQLITE_TRIGGER = """
CREATE TRIGGER ledger_kind_tops_after_insert AFTER INSERT ON ledger_entries FOR EACH ROW BEGIN
  INSERT INTO ledger_kind_tops (kind, seq) VALUES (NEW.kind, NEW.seq)
  ON CONFLICT (kind) DO UPDATE SET seq = max(seq, excluded.seq);
END
"""


def upgrade() -> None:
    op.create_table(
        "ledger_kind_tops",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_ledger_kind_tops")),
    )
    op.execute(
        "INSERT INTO ledger_kind_tops (kind, seq) SELECT kind, max(seq) FROM ledger_entries GROUP BY kind"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS ledger_kind_tops_after_insert ON ledger_entries"
        if op.get_bind().dialect.name == "postgresql"
        else "DROP TRIGGER IF EXISTS ledger_kind_tops_after_insert"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION disgorge_ledger_kind_tops()")
    op.drop_table("ledger_kind_tops")
