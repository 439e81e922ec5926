"""Resetting a carer's feed: a new epoch that replays the carer's current visits.

The office action behind docs/protocol.md section 2, "How an epoch changes". One write
transaction moves the feed to the next epoch and stores, from seq 1, one ``visit_upsert``
per visit currently assigned to the carer (in start order), so a device that drops its
copy and replays the new epoch from seq 1 holds exactly the carer's current visits. The
old epoch's entries are removed: no position in it can be continued, and acks recorded
in it no longer count (acks are compared in the feed's current epoch).

The feed row is updated first, which row-locks it (PostgreSQL; SQLite's writes are
serial), so a rota change for this carer commits either wholly before the visits are
read or after the reset, at the next seq of the new epoch. After commit the bus is rung
with the new head, which every node's head cache and every socket of the feed follow:
connected devices are told at once (a heartbeat with the new epoch's head), the others
at their next connection (``welcome`` says ``reset``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.codec import encode
from protocol.frames import Change, VisitUpsert
from server.bus import envelope
from server.bus.base import Bus
from server.clock import Clock, to_datetime
from server.services import feeds
from server.services.errors import NotFound
from server.services.identity import Staff
from server.services.office_input import checked_change_frame
from server.services.visit_views import load_visit_views
from server.store.database import Database
from server.store.schema import feed_entries, users, visit_assignments, visits
from server.store.schema import feeds as feed_heads

log = logging.getLogger(__name__)

SUMMARY = "feed reset by the office"
"""What a sync-mismatch alert says changed, for a visit the new epoch replays."""

INSERT_CHUNK = 500
"""Entries per multi-row insert (a carer with years of visits is a few thousand)."""


@dataclass(frozen=True)
class FeedResetDone:
    carer_id: str
    epoch: int
    head: int
    """The new epoch's head: one change per current visit."""


class FeedResetService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock

    async def reset(self, actor: Staff, carer_id: str) -> FeedResetDone:
        """Reset the feed of ``carer_id``: an admin, or a coordinator of the carer's branch.

        A carer outside the actor's reach answers as missing, as on every carer route."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await _carer_in_reach(conn, actor, carer_id)
            epoch = (
                await conn.execute(
                    update(feed_heads)
                    .where(feed_heads.c.carer_id == carer_id)
                    .values(epoch=feed_heads.c.epoch + 1, head_seq=0, compacted_through=0)
                    .returning(feed_heads.c.epoch)
                )
            ).scalar_one()
            await conn.execute(
                delete(feed_entries).where(feed_entries.c.carer_id == carer_id, feed_entries.c.epoch < epoch)
            )
            last = await _replay_current_visits(conn, actor.tenant_id, carer_id, epoch, now)
            head = last.seq if last is not None else 0
            await conn.execute(update(feed_heads).where(feed_heads.c.carer_id == carer_id).values(head_seq=head))
        await _ring(self.bus, carer_id, epoch, last)
        log.info("feed of carer %s reset to epoch %d (head %d) by %s", carer_id, epoch, head, actor.user_id)
        return FeedResetDone(carer_id=carer_id, epoch=epoch, head=head)


async def _carer_in_reach(conn: AsyncConnection, actor: Staff, carer_id: str) -> None:
    carer = (
        await conn.execute(
            select(users.c.role, users.c.branch_id).where(users.c.id == carer_id, users.c.tenant_id == actor.tenant_id)
        )
    ).first()
    if carer is None or carer.role != "carer" or not actor.may_see_branch(carer.branch_id):
        raise NotFound(f"carer {carer_id} not found")


async def _replay_current_visits(
    conn: AsyncConnection, tenant_id: str, carer_id: str, epoch: int, now_ms: int
) -> feeds.Appended | None:
    """Store one ``visit_upsert`` per visit assigned to the carer now, from seq 1; the last
    entry stored (None when the carer has no visits)."""
    ids = [
        r.id
        for r in await conn.execute(
            select(visits.c.id)
            .join(visit_assignments, visit_assignments.c.visit_id == visits.c.id)
            .where(visit_assignments.c.carer_id == carer_id, visit_assignments.c.unassigned_at.is_(None))
            .order_by(visits.c.starts_at, visits.c.id)
        )
    ]
    committed_at = to_datetime(now_ms)
    last: feeds.Appended | None = None
    rows = []
    for seq, view in enumerate(await load_visit_views(conn, tenant_id, ids), start=1):
        change = Change(feed=carer_id, epoch=epoch, seq=seq, committed_at=committed_at, payload=VisitUpsert(visit=view))
        frame = checked_change_frame(encode(change))
        rows.append(
            {
                "carer_id": carer_id,
                "epoch": epoch,
                "seq": seq,
                "visit_id": view.id,
                "committed_at": now_ms,
                "frame": frame.decode(),
                "summary": SUMMARY,
            }
        )
        last = feeds.Appended(channel=feeds.CARERS.channel(carer_id), epoch=epoch, seq=seq, frame=frame)
    for start in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(insert(feed_entries), rows[start : start + INSERT_CHUNK])
    return last


async def _ring(bus: Bus, carer_id: str, epoch: int, last: feeds.Appended | None) -> None:
    """Ring the new head once (not once per entry): a socket that hears of a newer epoch
    announces its head and the device fetches the whole epoch with a standard sync. An
    empty epoch has no entry to carry: the doorbell names its position with no frame
    (seq 0 is never sent as a change). A lost doorbell is repaired by the next heartbeat's
    heads read, as for any change."""
    if last is not None:
        await feeds.ring(bus, [last])
        return
    await bus.publish(feeds.CARERS.channel(carer_id), envelope.pack(epoch, 0, b""))
