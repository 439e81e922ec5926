"""The one statement that finds changes due a "delivered but not seen" alert.

A change is due when, by the tenant's policy and the visit's current times:

- it is the latest change of the visit in the carer's current epoch;
- it needed the carer's acknowledgement (``seen_window_h``: the visit started, or starts
  within the window, after the change's commit, and had not ended by then);
- the visit has not ended yet;
- ``seen_grace_s`` has passed since its commit, and the visit starts within
  ``seen_lead_s`` (or is under way);
- a phone of the carer acknowledged it (delivered: otherwise it is a sync mismatch);
- the carer has not seen it, and no alert was ever raised for it, and none is open for
  the carer and the visit.

The statement reads the visits around now (index on ``visits.starts_at``) and each one's
entries (index on ``feed_entries.visit_id``), never a whole feed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import (
    carer_seen,
    clients,
    device_acks,
    devices,
    feed_entries,
    feeds,
    seen_alerts,
    tenants,
    users,
    visits,
)

MAX_LEAD_MS = 24 * 3_600_000
"""The largest ``seen_lead_s`` a tenant may set: visits starting later are never due."""

MAX_VISIT_MS = 24 * 3_600_000
"""Visits that started longer ago than this are not looked at (a care visit is shorter)."""


@dataclass(frozen=True)
class Due:
    tenant_id: str
    branch_id: str
    carer_id: str
    carer_name: str
    visit_id: str
    client_name: str
    epoch: int
    seq: int
    committed_at: int
    summary: str
    starts_at: int
    ends_at: int
    status: str


async def due(conn: AsyncConnection, now_ms: int) -> list[Due]:
    e, v, t = feed_entries, visits, tenants
    later = feed_entries.alias("later")
    hour = 3_600_000
    query = (
        select(
            v.c.tenant_id,
            v.c.branch_id,
            e.c.carer_id,
            users.c.name.label("carer_name"),
            e.c.visit_id,
            clients.c.name.label("client_name"),
            e.c.epoch,
            e.c.seq,
            e.c.committed_at,
            e.c.summary,
            v.c.starts_at,
            v.c.ends_at,
            v.c.status,
        )
        .select_from(v)
        .join(t, t.c.id == v.c.tenant_id)
        .join(clients, clients.c.id == v.c.client_id)
        .join(e, e.c.visit_id == v.c.id)
        .join(feeds, and_(feeds.c.carer_id == e.c.carer_id, feeds.c.epoch == e.c.epoch))
        .join(users, users.c.id == e.c.carer_id)
        .where(
            v.c.starts_at <= now_ms + MAX_LEAD_MS,
            v.c.starts_at >= now_ms - MAX_VISIT_MS,
            v.c.ends_at > now_ms,
            t.c.seen_window_h > 0,
            v.c.starts_at - e.c.committed_at <= t.c.seen_window_h * hour,
            v.c.ends_at > e.c.committed_at,
            e.c.committed_at + t.c.seen_grace_s * 1000 <= now_ms,
            v.c.starts_at - t.c.seen_lead_s * 1000 <= now_ms,
            ~select(later.c.seq)
            .where(
                later.c.visit_id == e.c.visit_id,
                later.c.carer_id == e.c.carer_id,
                later.c.epoch == e.c.epoch,
                later.c.seq > e.c.seq,
            )
            .exists(),
            ~select(carer_seen.c.seq)
            .where(carer_seen.c.carer_id == e.c.carer_id, carer_seen.c.epoch == e.c.epoch, carer_seen.c.seq == e.c.seq)
            .exists(),
            ~select(seen_alerts.c.id)
            .where(
                seen_alerts.c.carer_id == e.c.carer_id,
                or_(
                    and_(seen_alerts.c.epoch == e.c.epoch, seen_alerts.c.seq == e.c.seq),
                    and_(seen_alerts.c.visit_id == e.c.visit_id, seen_alerts.c.status == "open"),
                ),
            )
            .exists(),
            select(device_acks.c.device_id)
            .join(devices, devices.c.id == device_acks.c.device_id)
            .where(
                device_acks.c.carer_id == e.c.carer_id,
                device_acks.c.epoch == e.c.epoch,
                device_acks.c.seq >= e.c.seq,
                devices.c.active.is_(True),
            )
            .exists(),
        )
        .order_by(e.c.carer_id, e.c.seq)
    )
    return [Due(**r._mapping) for r in await conn.execute(query)]
