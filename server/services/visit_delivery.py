"""Whether each carer's phone has a visit's latest change: ``delivered`` when one of the
carer's active devices acknowledged it, ``queued`` when it waits for the phone to connect
(or to acknowledge), ``no phone`` when the carer has no active device."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import covers
from server.store.schema import device_acks, device_users, devices, feed_entries, feeds
from server.tunables import REPORT_QUERY_CHUNK as _CHUNK


async def delivery(conn: AsyncConnection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """For (visit id, carer id) pairs: delivered, queued or no phone."""
    visit_ids = sorted({v for v, _ in pairs})
    carer_ids = sorted({c for _, c in pairs})
    latest: dict[tuple[str, str], int] = {}
    for start in range(0, len(visit_ids), _CHUNK):
        chunk = visit_ids[start : start + _CHUNK]
        rows = await conn.execute(
            select(feed_entries.c.visit_id, feed_entries.c.carer_id, func.max(feed_entries.c.seq).label("seq"))
            .join(feeds, and_(feeds.c.carer_id == feed_entries.c.carer_id, feeds.c.epoch == feed_entries.c.epoch))
            .where(feed_entries.c.visit_id.in_(chunk))
            .group_by(feed_entries.c.visit_id, feed_entries.c.carer_id)
        )
        latest.update({(r.visit_id, r.carer_id): r.seq for r in rows})
    acked: dict[str, int] = {}
    phones: set[str] = set()
    for start in range(0, len(carer_ids), _CHUNK):
        chunk = carer_ids[start : start + _CHUNK]
        active = and_(devices.c.id == device_users.c.device_id, devices.c.active, devices.c.deleted_at.is_(None))
        phones.update(
            r.user_id
            for r in await conn.execute(
                select(device_users.c.user_id).join(devices, active).where(device_users.c.user_id.in_(chunk))
            )
        )
        rows = await conn.execute(
            select(device_acks.c.carer_id, func.max(device_acks.c.seq).label("seq"))
            .join(feeds, and_(feeds.c.carer_id == device_acks.c.carer_id, feeds.c.epoch == device_acks.c.epoch))
            .join(
                devices, and_(devices.c.id == device_acks.c.device_id, devices.c.active, devices.c.deleted_at.is_(None))
            )
            .where(device_acks.c.carer_id.in_(chunk))
            .group_by(device_acks.c.carer_id)
        )
        acked.update({r.carer_id: r.seq for r in rows})
    said = {}
    for pair in pairs:
        _visit, carer = pair
        if carer not in phones:
            said[pair] = "no phone"
        elif covers(acked.get(carer, 0), latest.get(pair, 0)):
            said[pair] = "delivered"
        else:
            said[pair] = "queued"
    return said
