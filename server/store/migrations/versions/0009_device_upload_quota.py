"""device upload quota: bytes stored per device per day; an index of rejected mutations for retention

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_upload_usage",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_upload_usage_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "day", name=op.f("pk_device_upload_usage")),
    )
    with op.batch_alter_table("device_mutations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_mutations_rejected_received",
            ["received_at"],
            unique=False,
            sqlite_where=sa.text("status = 'rejected'"),
            postgresql_where=sa.text("status = 'rejected'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("device_mutations", schema=None) as batch_op:
        batch_op.drop_index("ix_device_mutations_rejected_received")
    op.drop_table("device_upload_usage")
