"""A carer's recent changes as the office follows them: per change (newest first), what the
office changed on which visit, whether the carer had to acknowledge it (the tenant's window
or a coordinator's mark), when it reached their phone (:mod:`server.services.delivery_times`)
and when they saw it (the seen ledger). The console's carer page lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import acked_in, covers
from protocol.seen_policy import within_window
from server.clock import to_datetime
from server.services.delivery_times import delivered_at
from server.services.identity import Staff
from server.services.seen_history import acked_positions
from server.store.schema import carer_seen, clients, feed_entries, feeds, tenants, visits

RECENT_CHANGES = 20
"""How many of the carer's latest changes the page lists."""


@dataclass(frozen=True)
class CarerChange:
    visit_id: str
    client_name: str
    seq: int
    committed_at: datetime
    change: str
    needs_seen: bool
    """The carer has to acknowledge it (the window, or ``marked``)."""
    marked: bool
    """A coordinator marked it (its notes) as needing acknowledgement."""
    delivered: bool
    delivered_at: datetime | None
    """None while queued, or when it was delivered before delivery times were kept."""
    seen_at: datetime | None
    """When the carer saw it (their phone's clock), None if not (yet)."""


async def recent_changes(
    conn: AsyncConnection, staff: Staff, carer_id: str, limit: int = RECENT_CHANGES
) -> list[CarerChange]:
    """The carer's latest changes in their current epoch, of the visits ``staff`` may see
    (the caller checked that they may see the carer)."""
    query = (
        select(
            feed_entries.c.visit_id,
            clients.c.name.label("client_name"),
            feed_entries.c.epoch,
            feed_entries.c.seq,
            feed_entries.c.committed_at,
            feed_entries.c.summary,
            feed_entries.c.needs_seen,
            visits.c.starts_at,
            visits.c.ends_at,
            tenants.c.seen_window_h,
        )
        .join(feeds, and_(feeds.c.carer_id == feed_entries.c.carer_id, feeds.c.epoch == feed_entries.c.epoch))
        .join(visits, visits.c.id == feed_entries.c.visit_id)
        .join(clients, clients.c.id == visits.c.client_id)
        .join(tenants, tenants.c.id == visits.c.tenant_id)
        .where(feed_entries.c.carer_id == carer_id, visits.c.tenant_id == staff.tenant_id)
        .order_by(feed_entries.c.seq.desc())
        .limit(limit)
    )
    branch = staff.scope_branch()
    if branch is not None:
        query = query.where(visits.c.branch_id == branch)
    entries = (await conn.execute(query)).all()
    if not entries:
        return []
    epoch = entries[0].epoch
    seqs = [e.seq for e in entries]
    seen = {
        r.seq: r.seen_at
        for r in await conn.execute(
            select(carer_seen.c.seq, carer_seen.c.seen_at).where(
                carer_seen.c.carer_id == carer_id, carer_seen.c.epoch == epoch, carer_seen.c.seq.in_(seqs)
            )
        )
    }
    acked_epoch, acked_seq = (await acked_positions(conn, [carer_id])).get(carer_id, (None, None))
    times = await delivered_at(conn, [(carer_id, epoch, seq) for seq in seqs])
    found = []
    for e in entries:
        seen_at = seen.get(e.seq)
        delivered = covers(acked_in(e.epoch, acked_epoch, acked_seq), e.seq) or seen_at is not None
        at = times.get((carer_id, e.epoch, e.seq)) if delivered else None
        found.append(
            CarerChange(
                visit_id=e.visit_id,
                client_name=e.client_name,
                seq=e.seq,
                committed_at=to_datetime(e.committed_at),
                change=e.summary,
                needs_seen=bool(e.needs_seen)
                or within_window(e.committed_at, e.starts_at, e.ends_at, int(e.seen_window_h or 0)),
                marked=bool(e.needs_seen),
                delivered=delivered,
                delivered_at=None if at is None else to_datetime(at),
                seen_at=None if seen_at is None else to_datetime(seen_at),
            )
        )
    return found
