"""device interruptions: when a device's node stopped under it and when it could reconnect

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_interruptions",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("stopped_at", sa.BigInteger(), nullable=False),
        sa.Column("available_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_interruptions_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_interruptions")),
    )
    with op.batch_alter_table("device_interruptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_interruptions_available_at"), ["available_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_interruptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_interruptions_available_at"))
    op.drop_table("device_interruptions")
