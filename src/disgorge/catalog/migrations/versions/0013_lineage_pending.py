"""lineage_pending: OpenLineage events acknowledged but not yet folded into the catalog

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lineage_pending",
        sa.Column("event_id", Id, nullable=False),
        sa.Column("run_uid", sa.String(length=36), nullable=False),
        sa.Column("accepted_by", sa.String(length=200), nullable=True),
        sa.Column("failed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["lineage_events.id"],
            name=op.f("fk_lineage_pending_event_id_lineage_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_lineage_pending")),
    )
    op.create_index(op.f("ix_lineage_pending_run_uid"), "lineage_pending", ["run_uid"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lineage_pending_run_uid"), table_name="lineage_pending")
    op.drop_table("lineage_pending")
