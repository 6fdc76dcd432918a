"""engine jobs: resumable hashing of object store prefixes (ingest, scan) batch by batch; S3 copies
keep their ETag and version id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("copies") as batch_op:
        batch_op.add_column(sa.Column("etag", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("version_id", sa.String(length=1024), nullable=True))
    op.create_table(
        "engine_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("root", sa.String(length=2000), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_jobs")),
    )
    op.create_index("ix_engine_jobs_digest_state", "engine_jobs", ["digest", "state"])
    op.create_table(
        "engine_batches",
        sa.Column("id", Id, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("first_key", sa.String(length=1024), nullable=False),
        sa.Column("last_key", sa.String(length=1024), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["engine_jobs.id"], name=op.f("fk_engine_batches_job_id_engine_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_batches")),
    )
    op.create_index(op.f("ix_engine_batches_job_id"), "engine_batches", ["job_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_engine_batches_job_id"), table_name="engine_batches")
    op.drop_table("engine_batches")
    op.drop_index("ix_engine_jobs_digest_state", table_name="engine_jobs")
    op.drop_table("engine_jobs")
    with op.batch_alter_table("copies") as batch_op:
        batch_op.drop_column("version_id")
        batch_op.drop_column("etag")
