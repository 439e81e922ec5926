"""visit status on the console feed: the late and missed statuses already announced

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_status_announced",
        sa.Column("visit_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("announced_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_visit_status_announced_visit_id_visits")),
        sa.PrimaryKeyConstraint("visit_id", "status", "due_at", name=op.f("pk_visit_status_announced")),
    )
    with op.batch_alter_table("visit_status_announced", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_status_announced_announced_at"), ["announced_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visit_status_announced", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_status_announced_announced_at"))
    op.drop_table("visit_status_announced")
