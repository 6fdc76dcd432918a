"""trust: approvals are signed statements in the ledger (the approvals table goes), plans record when
their target paths were forgotten, tombstones keep crop hashes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("erasure_approvals")
    with op.batch_alter_table("erasure_plans") as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tombstones") as batch_op:
        batch_op.add_column(sa.Column("crops", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tombstones") as batch_op:
        batch_op.drop_column("crops")
    with op.batch_alter_table("erasure_plans") as batch_op:
        batch_op.drop_column("redacted_at")
    op.create_table(
        "erasure_approvals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["erasure_plans.id"], name=op.f("fk_erasure_approvals_plan_id_erasure_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_approvals")),
        sa.UniqueConstraint("plan_id", "approver", name=op.f("uq_erasure_approvals_plan_id")),
    )
