"""device audit: who did what to a device from the console; a phone number and notes per user

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_audit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_audit_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_device_audit_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_audit")),
    )
    with op.batch_alter_table("device_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_audit_device_id"), ["device_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("contact_notes", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("contact_notes")
        batch_op.drop_column("phone")
    with op.batch_alter_table("device_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_audit_device_id"))
    op.drop_table("device_audit")
