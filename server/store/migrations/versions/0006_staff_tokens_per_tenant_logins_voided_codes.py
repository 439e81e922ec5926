"""staff API tokens (name, last use), logins unique per tenant, voided enrolment codes

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_login"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_users_tenant_id_login"), ["tenant_id", "login"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_tenant_id_login"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_users_login"), ["login"])

    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.drop_column("voided_at")

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("name")
