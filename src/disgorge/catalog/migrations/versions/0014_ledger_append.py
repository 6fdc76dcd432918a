"""disgorge_ledger_append: a ledger append on PostgreSQL in one round trip under the appenders' lock

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Each statement of a VOLATILE PL/pgSQL function takes a new snapshot (READ COMMITTED): the top is read
# after the lock is held, so it sees the entries of the appender that held it before.
FUNCTION = """
CREATE FUNCTION disgorge_ledger_append(kinds text[], entries text[], leaves bytea[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  top bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7243157);
  SELECT coalesce(max(seq), -1) INTO top FROM ledger_entries;
  INSERT INTO ledger_entries (seq, kind, entry, leaf)
    SELECT top + v.n, v.kind, v.entry, v.leaf
    FROM unnest(kinds, entries, leaves) WITH ORDINALITY AS v(kind, entry, leaf, n);
  RETURN top + 1;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION disgorge_ledger_append(text[], text[], bytea[])")
