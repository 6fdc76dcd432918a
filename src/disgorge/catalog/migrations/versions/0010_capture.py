"""capture: OpenLineage events as received, runs reported by other systems, and their inputs and outputs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lineage_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_uid", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event_time", sa.String(length=32), nullable=False),
        sa.Column("producer", sa.String(length=2000), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_events")),
        sa.UniqueConstraint(
            "run_uid", "event_type", "event_time", "digest", name=op.f("uq_lineage_events_run_uid")
        ),
    )
    op.create_index(op.f("ix_lineage_events_run_uid"), "lineage_events", ["run_uid"])
    op.create_table(
        "captured_runs",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("producer", sa.String(length=2000), nullable=False),
        sa.Column("job_namespace", sa.String(length=1000), nullable=True),
        sa.Column("job_name", sa.String(length=1000), nullable=True),
        sa.Column("parent_uid", sa.String(length=200), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_captured_runs_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_captured_runs")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_captured_runs_source")),
    )
    op.create_table(
        "captured_io",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("namespace", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=2000), nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=True),
        sa.Column("node_kind", sa.String(length=8), nullable=True),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("how", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_captured_io_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captured_io")),
        sa.UniqueConstraint("run_id", "direction", "uri", name=op.f("uq_captured_io_run_id")),
    )
    op.create_index("ix_captured_io_uri", "captured_io", ["uri"])


def downgrade() -> None:
    op.drop_index("ix_captured_io_uri", table_name="captured_io")
    op.drop_table("captured_io")
    op.drop_table("captured_runs")
    op.drop_index(op.f("ix_lineage_events_run_uid"), table_name="lineage_events")
    op.drop_table("lineage_events")
