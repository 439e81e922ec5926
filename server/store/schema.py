"""Tables of the caresync store (SQLAlchemy Core). Times are UTC epoch milliseconds.

Written for both SQLite and PostgreSQL: string ids, integer times, no dialect types.
Change the schema only together with a new Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

tenants = Table(
    "tenants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="Europe/London"),
    Column("auto_sync_enabled", Boolean, nullable=False, server_default="1"),
    Column("auto_sync_interval_s", Integer, nullable=False, server_default="900"),
    Column("mismatch_grace_s", Integer, nullable=False, server_default="120"),
    Column("stale_after_s", Integer, nullable=False, server_default="86400"),
    Column("auto_sync_uploads", Boolean, nullable=False, server_default="1"),
    Column("feed_retention_days", Integer, nullable=False, server_default="30"),
    Column("clean_sync_days_back", Integer, nullable=False, server_default="1"),
    Column("clean_sync_days_ahead", Integer, nullable=False, server_default="14"),
    Column("seen_window_h", Integer, nullable=False, server_default="24"),
    Column("seen_grace_s", Integer, nullable=False, server_default="600"),
    Column("seen_lead_s", Integer, nullable=False, server_default="7200"),
    Column("late_grace_s", Integer, nullable=False, server_default="900"),
    Column("created_at", BigInteger, nullable=False),
)

branches = Table(
    "branches",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("branch_id", ID, ForeignKey("branches.id"), nullable=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("login", String(200), nullable=True),
    Column("password_hash", String(200), nullable=True),
    Column("phone", String(40), nullable=False, server_default=""),
    Column("contact_notes", String(200), nullable=False, server_default=""),
    UniqueConstraint("tenant_id", "login"),
)
"""``login`` and ``password_hash`` (argon2id; older rows scrypt) are set for office staff
who sign in. A login is unique within its tenant only, so no tenant learns another's.
``phone`` and ``contact_notes`` are how the office reaches the person (shown in alerts)."""

clients = Table(
    "clients",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("branch_id", ID, ForeignKey("branches.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", String(200), nullable=False, server_default=""),
)

visits = Table(
    "visits",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("branch_id", ID, ForeignKey("branches.id"), nullable=False),
    Column("client_id", ID, ForeignKey("clients.id"), nullable=False),
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("notes", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_visits_branch_start", "branch_id", "starts_at"),
    Index("ix_visits_starts_at", "starts_at"),
)

visit_assignments = Table(
    "visit_assignments",
    metadata,
    Column("visit_id", ID, ForeignKey("visits.id"), primary_key=True),
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("assigned_at", BigInteger, nullable=False),
    Column("unassigned_at", BigInteger, nullable=True),
    Index("ix_visit_assignments_carer", "carer_id", "unassigned_at"),
)
"""Assignment history: a row with ``unassigned_at`` set is a former assignee."""

tasks = Table(
    "tasks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("visit_id", ID, ForeignKey("visits.id"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("removed", Boolean, nullable=False, server_default="0"),
)

feeds = Table(
    "feeds",
    metadata,
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("head_seq", BigInteger, nullable=False),
    Column("compacted_through", BigInteger, nullable=False, server_default="0"),
)
"""One row per carer; ``head_seq`` is allocated by an UPDATE that row-locks the feed.
Entries up to ``compacted_through`` were removed by retention: a device behind that
position cannot catch up by replay and must clean-sync."""

feed_entries = Table(
    "feed_entries",
    metadata,
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("visit_id", ID, nullable=False),
    Column("committed_at", BigInteger, nullable=False),
    Column("frame", Text, nullable=False),
    Column("summary", String(120), nullable=False, server_default=""),
    Column("needs_seen", Boolean, nullable=False, server_default="0"),
    Index("ix_feed_entries_visit", "visit_id", "committed_at"),
)
"""The encoded ``change`` frame is stored as sent, so replay never re-encodes.
``summary`` says what the office changed, for sync-mismatch alerts; ``needs_seen`` that a
coordinator marked it (its notes) as needing the carer's acknowledgement whatever the
tenant's window (the frame's ``visit_upsert.needs_seen``). The visit index
serves a visit's history and the "delivered but not seen" pass: an office change sets the
visit's ``updated_at`` to its entries' ``committed_at``, so a visit's latest changes are
its entries from ``updated_at`` on."""

devices = Table(
    "devices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("branch_id", ID, ForeignKey("branches.id"), nullable=True),
    Column("uuid", String(64), nullable=True),
    Column("name", String(200), nullable=False),
    Column("app_version", String(64), nullable=False, server_default=""),
    Column("platform", String(32), nullable=False, server_default=""),
    Column("model", String(100), nullable=False, server_default=""),
    Column("shared", Boolean, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("deleted_at", BigInteger, nullable=True),
    Column("resync_requested_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_api_call_at", BigInteger, nullable=True),
    Column("last_api_call_ok", Boolean, nullable=True),
    Column("last_api_error", String(64), nullable=True),
    Column("last_sync_at", BigInteger, nullable=True),
    UniqueConstraint("tenant_id", "uuid"),
)

device_users = Table(
    "device_users",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("name", String(100), nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
)
"""Opaque bearer tokens, stored as SHA-256 digests (they carry 256 random bits). Staff API
tokens carry a name and their last use (recorded at most once a minute)."""

device_mutations = Table(
    "device_mutations",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("mutation_id", BigInteger, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("carer_id", ID, nullable=False),
    Column("visit_id", ID, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("record_id", ID, nullable=True),
    Column("payload", Text, nullable=False),
    Index(
        "ix_device_mutations_rejected_received",
        "received_at",
        sqlite_where=text("status = 'rejected'"),
        postgresql_where=text("status = 'rejected'"),
    ),
)
"""The idempotency ledger: every uploaded mutation's result, with its body as received (a
rejected one's cut to its first 1 KiB, and removed after the rejected-mutation retention;
the partial index finds those for the retention pass)."""

device_upload_usage = Table(
    "device_upload_usage",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("stored_bytes", BigInteger, nullable=False),
)
"""What one device's uploads added to the store on one UTC day (days since 1970-01-01),
checked against the daily upload quota; rows of past days are removed by retention."""

care_records = Table(
    "care_records",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("visit_id", ID, ForeignKey("visits.id"), nullable=False, index=True),
    Column("carer_id", ID, ForeignKey("users.id"), nullable=False),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False),
    Column("mutation_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("task_id", ID, nullable=True),
    Column("captured_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("conflict", String(32), nullable=True),
)
"""What carers recorded. ``conflict`` flags a record for the office; it is never dropped."""

device_acks = Table(
    "device_acks",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("acked_at", BigInteger, nullable=False),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
)
"""Live server nodes; a node that stops touching its row is treated as dead."""

device_connections = Table(
    "device_connections",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("connected_at", BigInteger, nullable=False),
)
"""Which node holds each connected device's socket (valid while that node is alive)."""

device_interruptions = Table(
    "device_interruptions",
    metadata,
    Column("device_id", ID, ForeignKey("devices.id"), primary_key=True),
    Column("stopped_at", BigInteger, nullable=False),
    Column("available_at", BigInteger, nullable=True, index=True),
)
"""The last time a device's connection was cut by the serving side (its node stopped or
died while it was connected), and when a node could take the device again (NULL until a
node has started since). The mismatch grace of changes the device could not receive
counts from ``available_at``."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
"""Named, expiring leases: a once-per-cluster job runs only on the lease holder."""

console_feeds = Table(
    "console_feeds",
    metadata,
    Column("scope_id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("head_seq", BigInteger, nullable=False),
)
"""One office notification feed per scope: a branch, or the tenant for tenant-wide events."""

console_events = Table(
    "console_events",
    metadata,
    Column("scope_id", ID, primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("frame", Text, nullable=False),
)

mismatch_alerts = Table(
    "mismatch_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("branch_id", ID, nullable=True),
    Column("carer_id", ID, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("first_unacked_seq", BigInteger, nullable=False),
    Column("head_seq", BigInteger, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("raised_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("closed_by", ID, nullable=True),
    Column("details", Text, nullable=False),
    Index("ix_mismatch_alerts_tenant_status", "tenant_id", "status", "raised_at"),
    Index(
        "uq_mismatch_alerts_open_carer",
        "carer_id",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)
"""Sync-mismatch alerts. The partial unique index allows one open alert per carer, so two
detectors racing on two nodes can never raise it twice."""

alert_audit = Table(
    "alert_audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("alert_id", ID, ForeignKey("mismatch_alerts.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
)
"""Who did what to an alert, and when: raised, updated, resolved, dismissed."""

device_audit = Table(
    "device_audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
    Column("detail", String(200), nullable=False, server_default=""),
)
"""Who did what to a device from the console, and when: enrolled, code, renamed, revoked,
deactivated, reactivated (``detail`` holds e.g. the old and new name)."""

enrolment_codes = Table(
    "enrolment_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Column("voided_at", BigInteger, nullable=True),
)
"""One-time, short-lived codes an app exchanges for its device token."""

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", ID, primary_key=True),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False),
    Column("carer_id", ID, ForeignKey("users.id"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("served_through", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)
"""A clean-sync snapshot of one carer's scope, taken at one feed position."""

snapshot_pages = Table(
    "snapshot_pages",
    metadata,
    Column("snapshot_id", ID, ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("page", Integer, primary_key=True),
    Column("body", Text, nullable=False),
)
"""Pages rendered when the snapshot was taken, so every page is of the same moment."""

device_effects = Table(
    "device_effects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("device_id", ID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
)
"""What a change to a device means for its open socket (revoke, reconnect, resync),
written in the same transaction as the change. Every node polls recent rows, so an
effect reaches the socket whichever process made the change (the CLI included); the
bus only makes it faster. Rows older than a minute are pruned."""

carer_seen = Table(
    "carer_seen",
    metadata,
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("visit_id", ID, nullable=False, index=True),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False),
    Column("committed_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
)
"""The carers' acknowledgements (docs/protocol.md 4b): who (the carer) saw which change
(its feed position and visit, and when it was committed), on which device, when (the
device's clock) and when the server recorded it. Inserted once per change, by the first
``seen`` naming it, and never updated nor deleted (not even by a feed reset)."""

seen_alerts = Table(
    "seen_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("branch_id", ID, nullable=True),
    Column("carer_id", ID, ForeignKey("users.id"), nullable=False),
    Column("visit_id", ID, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("raised_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("closed_by", ID, nullable=True),
    Column("details", Text, nullable=False),
    UniqueConstraint("carer_id", "epoch", "seq"),
    Index("ix_seen_alerts_tenant_status", "tenant_id", "status", "raised_at"),
)
""""Delivered but not seen" alerts: one per change that needed the carer's acknowledgement,
reached a phone and was not seen in time (the unique constraint: raised once, so two
detectors cannot both raise it and a dismissed one stays closed)."""

seen_alert_audit = Table(
    "seen_alert_audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("alert_id", ID, ForeignKey("seen_alerts.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
)
"""Who did what to a "delivered but not seen" alert, and when: raised, resolved, dismissed."""

visit_alerts = Table(
    "visit_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("branch_id", ID, nullable=True),
    Column("carer_id", ID, ForeignKey("users.id"), nullable=False),
    Column("visit_id", ID, ForeignKey("visits.id"), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("raised_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("closed_by", ID, nullable=True),
    Column("details", Text, nullable=False),
    Index("ix_visit_alerts_tenant_status", "tenant_id", "status", "raised_at"),
)
"""Late and missed visits: no check-in by the visit's start plus the tenant's
``late_grace_s``. One per visit, ever (the unique visit: two detectors cannot both raise
it, and a dismissed one stays closed); resolved by a check-in. ``carer_id`` is the visit's
first carer, for the office's filters."""

visit_alert_audit = Table(
    "visit_alert_audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("alert_id", ID, ForeignKey("visit_alerts.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
)
"""Who did what to a late- or missed-visit alert, and when: raised, resolved, dismissed."""

visit_status_announced = Table(
    "visit_status_announced",
    metadata,
    Column("visit_id", ID, ForeignKey("visits.id"), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("due_at", BigInteger, primary_key=True),
    Column("announced_at", BigInteger, nullable=False, index=True),
)
"""Which clock-driven statuses (``late``, ``missed``) the console feed was told of: the
visit turned ``status`` at ``due_at`` (its start plus the tenant's grace, or its end). Moved
times give a new ``due_at``, so a rescheduled visit is told of again. The pass that
announces removes rows two days old: it no longer looks at their visits."""

delivery_marks = Table(
    "delivery_marks",
    metadata,
    Column("carer_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("delivered_at", BigInteger, nullable=False),
)
"""When each change reached a phone (:mod:`server.services.delivery_times`): by
``delivered_at``, when a node received the acknowledgement, a phone of the carer held every
change of ``epoch`` up to ``seq``. Written with each batch of acks, the first time only;
removed by retention with the changes they cover."""
