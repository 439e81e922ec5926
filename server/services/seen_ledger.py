"""The carers' acknowledgements (docs/protocol.md 4b): ``seen`` recorded once per change.

One handler, two transports: the device socket and ``POST /api/v1/device/seen`` both call
:meth:`SeenLedger.record`. Each change a ``seen`` names is inserted into ``carer_seen``
unless it is already there (the first acknowledgement stands; a record is never edited),
and the ``on_recorded`` hook (the "delivered but not seen" alerts) hears of the carer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import FeedPosition, Seen, SeenRecorded
from protocol.tracker import check_ack
from server.clock import Clock, to_ms
from server.services import feeds
from server.services.activity import ActivityRecorder
from server.services.identity import DeviceIdentity
from server.store.database import Database
from server.store.schema import carer_seen, feed_entries
from server.store.upsert import insert_for

SeenHook = Callable[[str, int, list[int]], Awaitable[object]]
"""Called after a ``seen`` is recorded, with the carer, the epoch and the seqs named."""


class SeenLedger:
    def __init__(self, db: Database, clock: Clock, activity: ActivityRecorder) -> None:
        self.db = db
        self.clock = clock
        self.activity = activity
        self.on_recorded: list[SeenHook] = []

    async def record(self, device: DeviceIdentity, seen: Seen) -> SeenRecorded:
        """Record what the carer saw; refuse the whole frame (nothing recorded) for a feed
        not on the device, another epoch or a seq beyond the head."""
        seqs = sorted(set(seen.seqs))
        try:
            if seen.feed not in device.carers:
                raise ProtocolError(ErrorCode.UNKNOWN_FEED, f"feed {seen.feed} is not on this device", seen.request_id)
            async with self.db.write() as conn:
                head = (await feeds.heads(conn, [seen.feed]))[seen.feed]
                try:
                    check_ack(
                        FeedPosition(feed=seen.feed, epoch=seen.epoch, seq=seqs[-1]),
                        FeedPosition(feed=seen.feed, epoch=head.epoch, seq=head.seq),
                    )
                except ProtocolError as exc:
                    raise ProtocolError(exc.code, exc.message, seen.request_id) from exc
                await _insert(conn, device, seen, seqs, self.clock.now_ms())
        except ProtocolError as exc:
            self.activity.record_call(device.device_id, ok=False, error_code=exc.code)
            raise
        self.activity.record_call(device.device_id, ok=True)
        for hook in self.on_recorded:
            await hook(seen.feed, seen.epoch, seqs)
        return SeenRecorded(request_id=seen.request_id, feed=seen.feed, epoch=seen.epoch, seqs=seqs)


async def _insert(conn: AsyncConnection, device: DeviceIdentity, seen: Seen, seqs: list[int], now_ms: int) -> None:
    """One row per change still stored; a change already recorded keeps its first record."""
    entries = await conn.execute(
        select(feed_entries.c.seq, feed_entries.c.visit_id, feed_entries.c.committed_at).where(
            feed_entries.c.carer_id == seen.feed,
            feed_entries.c.epoch == seen.epoch,
            feed_entries.c.seq.in_(seqs),
        )
    )
    seen_at = to_ms(seen.seen_at)
    rows = [
        {
            "carer_id": seen.feed,
            "epoch": seen.epoch,
            "seq": e.seq,
            "tenant_id": device.tenant_id,
            "visit_id": e.visit_id,
            "device_id": device.device_id,
            "committed_at": e.committed_at,
            "seen_at": seen_at,
            "recorded_at": now_ms,
        }
        for e in entries
    ]
    if rows:
        await conn.execute(insert_for(conn, carer_seen).on_conflict_do_nothing(), rows)
