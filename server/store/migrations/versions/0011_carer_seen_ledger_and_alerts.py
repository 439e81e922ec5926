"""carer acknowledgement and visit status: the seen ledger and its policy, not-seen and late-visit alerts

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index("ix_visits_starts_at", ["starts_at"], unique=False)
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index("ix_feed_entries_visit", ["visit_id", "committed_at"], unique=False)
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seen_window_h", sa.Integer(), nullable=False, server_default="24"))
        batch_op.add_column(sa.Column("seen_grace_s", sa.Integer(), nullable=False, server_default="600"))
        batch_op.add_column(sa.Column("seen_lead_s", sa.Integer(), nullable=False, server_default="7200"))
        batch_op.add_column(sa.Column("late_grace_s", sa.Integer(), nullable=False, server_default="900"))
    op.create_table(
        "carer_seen",
        sa.Column("carer_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("visit_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("committed_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["carer_id"], ["users.id"], name=op.f("fk_carer_seen_carer_id_users")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_carer_seen_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_carer_seen_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("carer_id", "epoch", "seq", name=op.f("pk_carer_seen")),
    )
    with op.batch_alter_table("carer_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_carer_seen_visit_id"), ["visit_id"], unique=False)
    op.create_table(
        "seen_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=True),
        sa.Column("carer_id", sa.String(length=36), nullable=False),
        sa.Column("visit_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(length=36), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["carer_id"], ["users.id"], name=op.f("fk_seen_alerts_carer_id_users")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_seen_alerts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_alerts")),
        sa.UniqueConstraint("carer_id", "epoch", "seq", name=op.f("uq_seen_alerts_carer_id_epoch_seq")),
    )
    with op.batch_alter_table("seen_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_seen_alerts_tenant_status", ["tenant_id", "status", "raised_at"], unique=False)
    op.create_table(
        "seen_alert_audit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["seen_alerts.id"], name=op.f("fk_seen_alert_audit_alert_id_seen_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_alert_audit")),
    )
    with op.batch_alter_table("seen_alert_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_alert_audit_alert_id"), ["alert_id"], unique=False)

    op.create_table(
        "visit_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=True),
        sa.Column("carer_id", sa.String(length=36), nullable=False),
        sa.Column("visit_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(length=36), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["carer_id"], ["users.id"], name=op.f("fk_visit_alerts_carer_id_users")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_visit_alerts_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_visit_alerts_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_alerts")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_visit_alerts_visit_id")),
    )
    with op.batch_alter_table("visit_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_visit_alerts_tenant_status", ["tenant_id", "status", "raised_at"], unique=False)
    op.create_table(
        "visit_alert_audit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["visit_alerts.id"], name=op.f("fk_visit_alert_audit_alert_id_visit_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_alert_audit")),
    )
    with op.batch_alter_table("visit_alert_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_alert_audit_alert_id"), ["alert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visit_alert_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_alert_audit_alert_id"))
    op.drop_table("visit_alert_audit")
    with op.batch_alter_table("visit_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_alerts_tenant_status")
    op.drop_table("visit_alerts")
    with op.batch_alter_table("seen_alert_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_alert_audit_alert_id"))
    op.drop_table("seen_alert_audit")
    with op.batch_alter_table("seen_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_seen_alerts_tenant_status")
    op.drop_table("seen_alerts")
    with op.batch_alter_table("carer_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carer_seen_visit_id"))
    op.drop_table("carer_seen")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("late_grace_s")
        batch_op.drop_column("seen_lead_s")
        batch_op.drop_column("seen_grace_s")
        batch_op.drop_column("seen_window_h")
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_entries_visit")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index("ix_visits_starts_at")
