"""What a "delivered but not seen" pass reads when it goes from its previous pass
(:mod:`.watermark`): the tenants' policies, and the visits around now whose changes may
have become due since.

A visit is touched from ``since_ms`` to now when, by its tenant's policy:

- the grace of its latest change passed in that stretch, or has yet to pass
  (``updated_at + seen_grace_s``: a removal's time is never after its visit's
  ``updated_at``, so this covers a removal whose grace passed while a later change of the
  visit is still in its own);
- it came within the lead in that stretch (``starts_at - seen_lead_s``);
- a phone of one of its carers, present or past, acknowledged something (``acked_at``:
  a change due before may be delivered only now);
- one of its "not seen" alerts was closed (it held back a later change of the carer).

One statement over the visits around now (those the full pass reads), with the two sets
of events read once each, by a scan: ``device_acks`` holds a row per device and feed (the
sync-mismatch pass reads it whole too; an index on ``acked_at`` would cost every ack
write), and ``seen_alerts`` grows with its history (an index on ``closed_at`` would bound
that read; 1,000 rows take under 1 ms).
"""

from __future__ import annotations

from sqlalchemy import between, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services.seen_alerts.candidates import MAX_LEAD_MS, MAX_VISIT_MS
from server.services.seen_alerts.watermark import Policy
from server.store.schema import device_acks, seen_alerts, tenants, visit_assignments, visits


async def policies(conn: AsyncConnection) -> dict[str, Policy]:
    """Each tenant's ``(seen_window_h, seen_lead_s, seen_grace_s)``."""
    t = tenants
    rows = await conn.execute(select(t.c.id, t.c.seen_window_h, t.c.seen_lead_s, t.c.seen_grace_s))
    return {r.id: (r.seen_window_h, r.seen_lead_s, r.seen_grace_s) for r in rows}


async def visits_touched(conn: AsyncConnection, now_ms: int, since_ms: int, limit: int) -> list[str] | None:
    """The ids of the visits around now touched from ``since_ms`` on; None if there are
    more than ``limit`` (then reading them all costs no more)."""
    v, t, va = visits, tenants, visit_assignments
    acked = (
        select(va.c.visit_id)
        .join(device_acks, device_acks.c.carer_id == va.c.carer_id)
        .where(device_acks.c.acked_at >= since_ms)
    )
    closed = select(seen_alerts.c.visit_id).where(seen_alerts.c.closed_at >= since_ms)
    rows = await conn.execute(
        select(v.c.id)
        .join(t, t.c.id == v.c.tenant_id)
        .where(
            v.c.starts_at <= now_ms + MAX_LEAD_MS,
            v.c.starts_at >= now_ms - MAX_VISIT_MS,
            v.c.ends_at > now_ms,
            # no window condition: a change the office marked needs acknowledgement whatever
            # the window, 0 included (the candidates statement judges the window)
            or_(
                v.c.updated_at + t.c.seen_grace_s * 1000 >= since_ms,
                between(v.c.starts_at - t.c.seen_lead_s * 1000, since_ms, now_ms),
                v.c.id.in_(acked),
                v.c.id.in_(closed),
            ),
        )
        .limit(limit + 1)
    )
    ids = [r.id for r in rows]
    return None if len(ids) > limit else ids
