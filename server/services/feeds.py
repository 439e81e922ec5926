"""Carer feeds: appending changes with gap-free seqs, reading heads and ranges."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.codec import encode
from protocol.frames import Change, ChangePayload
from server.bus import envelope
from server.bus.base import Bus, feed_channel
from server.clock import to_datetime
from server.store.schema import feed_entries, feeds


@dataclass(frozen=True)
class Appended:
    """A committed feed entry, ready to ring the bus with."""

    carer_id: str
    epoch: int
    seq: int
    frame: bytes


@dataclass(frozen=True)
class Head:
    epoch: int
    seq: int


async def create_feed(conn: AsyncConnection, tenant_id: str, carer_id: str) -> None:
    await conn.execute(insert(feeds).values(carer_id=carer_id, tenant_id=tenant_id, epoch=1, head_seq=0))


async def append(conn: AsyncConnection, carer_id: str, visit_id: str, payload: ChangePayload, now_ms: int) -> Appended:
    """Allocate the next seq of the carer's feed and store the encoded change.

    The UPDATE ... RETURNING row-locks the feed until commit, so concurrent writers on
    any number of nodes get consecutive seqs. Callers append in carer-id order.
    """
    row = (
        await conn.execute(
            update(feeds)
            .where(feeds.c.carer_id == carer_id)
            .values(head_seq=feeds.c.head_seq + 1)
            .returning(feeds.c.epoch, feeds.c.head_seq)
        )
    ).one()
    change = Change(
        feed=carer_id,
        epoch=row.epoch,
        seq=row.head_seq,
        committed_at=to_datetime(now_ms),
        payload=payload,
    )
    frame = encode(change)
    await conn.execute(
        insert(feed_entries).values(
            carer_id=carer_id,
            epoch=row.epoch,
            seq=row.head_seq,
            visit_id=visit_id,
            committed_at=now_ms,
            frame=frame.decode(),
        )
    )
    return Appended(carer_id=carer_id, epoch=row.epoch, seq=row.head_seq, frame=frame)


async def heads(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, Head]:
    found: dict[str, Head] = {}
    for start in range(0, len(carer_ids), 500):
        chunk = carer_ids[start : start + 500]
        rows = await conn.execute(
            select(feeds.c.carer_id, feeds.c.epoch, feeds.c.head_seq).where(feeds.c.carer_id.in_(chunk))
        )
        for r in rows:
            found[r.carer_id] = Head(epoch=r.epoch, seq=r.head_seq)
    return found


async def read_frames(
    conn: AsyncConnection, carer_id: str, epoch: int, after_seq: int, limit: int
) -> list[tuple[int, bytes]]:
    """Stored change frames of one feed with seq > ``after_seq``, in order."""
    rows = await conn.execute(
        select(feed_entries.c.seq, feed_entries.c.frame)
        .where(
            feed_entries.c.carer_id == carer_id,
            feed_entries.c.epoch == epoch,
            feed_entries.c.seq > after_seq,
        )
        .order_by(feed_entries.c.seq)
        .limit(limit)
    )
    return [(r.seq, r.frame.encode()) for r in rows]


async def ring(bus: Bus, appended: list[Appended]) -> None:
    """Publish committed entries. A lost publish is repaired by heartbeat heads."""
    for entry in appended:
        await bus.publish(feed_channel(entry.carer_id), envelope.pack(entry.epoch, entry.seq, entry.frame))
