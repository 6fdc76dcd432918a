"""catalog_stamps: a counter that every change to artifacts, their copies or deployments moves, by trigger

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 03:30:00

An impact report lists every affected model with its copies and deployments: ~4,800 rows for one
subject of the OkCupid case, re-read on every query (most of a report's 47 ms). Reports keep those rows
while the ``artifacts`` counter has not moved. A trigger, not the writers, moves it, so no writer (a
capture, an erasure's fates, a takedown, a hand-run UPDATE) can change them without the cache seeing
it. On PostgreSQL the trigger first takes the ledger appenders' lock (migration 0014): every writer of
these tables also appends to the ledger, so taking that lock first keeps one lock order and no deadlock.

Tables of millions of rows (assets, copies) get no such trigger: on SQLite a row trigger doubled a bulk
insert's time. Their caches go by the ledger's kind tops (``catalog/stamps.py``) instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

GROUPS = {"artifacts": ("artifacts", "artifact_copies", "deployments")}
TABLES = tuple((table, group) for group, tables in GROUPS.items() for table in tables)

PG_FUNCTION = """
CREATE FUNCTION disgorge_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(7243157);
  UPDATE catalog_stamps SET n = n + 1 WHERE name = TG_ARGV[0];
  RETURN NULL;
END
$$;
"""
PG_TRIGGER = (
    "CREATE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION disgorge_bump_stamp('{group}')"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER {table}_stamp_{event} AFTER {event} ON {table} FOR EACH ROW BEGIN "
    "UPDATE catalog_stamps SET n = n + 1 WHERE name = '{group}'; END"
)
EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "catalog_stamps",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_catalog_stamps")),
    )
    op.execute("INSERT INTO catalog_stamps (name, n) VALUES ('artifacts', 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table, group in TABLES:
            op.execute(PG_TRIGGER.format(table=table, group=group))
    else:
        for table, group in TABLES:
            for event in EVENTS:
                op.execute(SQLITE_TRIGGER.format(table=table, group=group, event=event))


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table, _group in TABLES:
        if pg:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp ON {table}")
        else:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event}")
    if pg:
        op.execute("DROP FUNCTION disgorge_bump_stamp()")
    op.drop_table("catalog_stamps")
