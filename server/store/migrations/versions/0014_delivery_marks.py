"""delivery times per change: the first acknowledgement of each acked position

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_marks",
        sa.Column("carer_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["carer_id"], ["users.id"], name=op.f("fk_delivery_marks_carer_id_users")),
        sa.PrimaryKeyConstraint("carer_id", "epoch", "seq", name=op.f("pk_delivery_marks")),
    )


def downgrade() -> None:
    op.drop_table("delivery_marks")
