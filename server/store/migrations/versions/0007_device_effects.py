"""device effects: revoke / reconnect / resync outbox polled by every node

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_effects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_effects")),
    )
    with op.batch_alter_table("device_effects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_effects_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_effects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_effects_created_at"))
    op.drop_table("device_effects")
