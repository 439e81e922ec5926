"""Standard sync: upload pending mutations, then download changes since the positions.

One handler, two transports: the WebSocket session and the HTTP endpoint both call
:meth:`SyncService.standard_sync`. A device without a socket reports what it applied from
the last answer with :meth:`SyncService.acknowledge` (the socket's ``ack`` over HTTP).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol import MAX_CHANGES_PER_PAGE, MAX_MUTATIONS_PER_SYNC
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import (
    Ack,
    Change,
    CheckIn,
    CheckOut,
    FeedPosition,
    Mutation,
    MutationResult,
    SyncRequest,
    SyncResponse,
)
from protocol.session import HeadRead, sync_start
from protocol.tracker import check_ack
from server.clock import Clock
from server.observability.instruments import timed_sync
from server.services import feeds
from server.services.activity import ActivityRecorder
from server.services.identity import DeviceIdentity
from server.services.mutations import apply_mutations
from server.services.upload_quota import UploadQuota
from server.store.database import Database
from server.store.schema import devices
from server.tunables import SYNC_RESPONSE_CHANGE_BYTES as RESPONSE_CHANGE_BYTES

log = logging.getLogger(__name__)
_change_decoder = msgspec.json.Decoder(Change)


class SyncService:
    def __init__(
        self, db: Database, clock: Clock, activity: ActivityRecorder, upload_quota: UploadQuota | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.activity = activity
        self.upload_quota = upload_quota or UploadQuota(0)
        self.on_checked_in: list[Callable[[list[str]], Awaitable[object]]] = []
        """Called with the visits a sync stored a check-in for (after its commit)."""
        self.on_attended: list[Callable[[list[str]], Awaitable[object]]] = []
        """Called with the visits a sync stored a check-in or check-out for just now (not a
        retried upload's), after its commit: their status may have changed."""

    @timed_sync("standard")
    async def standard_sync(self, device: DeviceIdentity, request: SyncRequest) -> SyncResponse:
        """Run one standard sync; bookkeeping records success or the error code."""
        try:
            response = await self._run(device, request)
        except ProtocolError as exc:
            self.activity.record_call(device.device_id, ok=False, error_code=exc.code)
            raise
        self.activity.record_call(device.device_id, ok=True, synced=not response.more)
        return response

    async def acknowledge(self, device: DeviceIdentity, ack: Ack) -> None:
        """Record an ``ack`` sent over HTTP, by the socket's rules against the stored head:
        refused (nothing recorded) for a feed not on the device, another epoch or a seq
        beyond the head; an older seq than the one recorded moves nothing back."""
        try:
            if ack.feed not in device.carers:
                raise ProtocolError(ErrorCode.UNKNOWN_FEED, f"feed {ack.feed} is not on this device")
            async with self.db.read() as conn:
                head = (await feeds.heads(conn, [ack.feed]))[ack.feed]
            reported = FeedPosition(feed=ack.feed, epoch=ack.epoch, seq=ack.seq)
            at_head = FeedPosition(feed=ack.feed, epoch=head.epoch, seq=head.seq)
            check_ack(reported, at_head)
        except ProtocolError as exc:
            self.activity.record_call(device.device_id, ok=False, error_code=exc.code)
            raise
        self.activity.record_position(device.device_id, reported, at_head)
        self.activity.record_call(device.device_id, ok=True)

    async def _checked_in(self, mutations: list[Mutation], results: list[MutationResult]) -> None:
        """Tell ``on_checked_in`` (the late-visit alerts) of the visits a check-in was stored
        for; a hook that fails is logged: its pass catches up."""
        stored = ("applied", "applied_with_conflict")
        visit_ids = sorted(
            {
                m.visit_id
                for m, r in zip(mutations, results, strict=False)
                if isinstance(m, CheckIn) and (r.status in stored or r.original_status in stored)
            }
        )
        for hook in self.on_checked_in if visit_ids else []:
            try:
                await hook(visit_ids)
            except Exception:
                log.exception("a check-in hook failed; the next late-visit pass resolves its alerts")
        attended = sorted(
            {
                m.visit_id
                for m, r in zip(mutations, results, strict=False)
                if isinstance(m, CheckIn | CheckOut) and r.status in stored
            }
        )
        for hook in self.on_attended if attended else []:
            try:
                await hook(attended)
            except Exception:
                log.exception("an attendance hook failed; the pages show the status on their next load")

    async def _run(self, device: DeviceIdentity, request: SyncRequest) -> SyncResponse:
        if len(request.mutations) > MAX_MUTATIONS_PER_SYNC:
            raise ProtocolError(
                ErrorCode.TOO_MANY_MUTATIONS,
                f"{len(request.mutations)} mutations; at most {MAX_MUTATIONS_PER_SYNC} per request",
                request.request_id,
            )
        positions = {p.feed: p for p in request.positions}
        unknown = sorted(set(positions) - set(device.carers))
        if unknown:
            raise ProtocolError(
                ErrorCode.UNKNOWN_FEED,
                f"feeds not assigned to this device: {', '.join(unknown)}",
                request.request_id,
            )
        results = []
        if request.mutations:
            now = self.clock.now_ms()
            self.upload_quota.refuse_if_spent(device.device_id, now, request.request_id)
            async with self.db.write() as conn:
                results = await apply_mutations(
                    conn, device, request.mutations, now, self.upload_quota, request.request_id
                )
            await self._checked_in(request.mutations, results)
        budget = min(request.page_size, MAX_CHANGES_PER_PAGE)
        bytes_left = RESPONSE_CHANGE_BYTES
        changes: list[Change] = []
        resets: list[str] = []
        resync: list[str] = []
        more = False
        async with self.db.read() as conn:
            head_of = await feeds.heads(conn, list(device.carers))
            demanded = await _resync_demanded(conn, device.device_id)
            for feed_id in device.carers:
                head = head_of[feed_id]
                position = positions.get(feed_id)
                read = HeadRead(feed=feed_id, epoch=head.epoch, seq=head.seq, compacted=head.compacted)
                if position is not None:
                    at_head = FeedPosition(feed=feed_id, epoch=head.epoch, seq=head.seq)
                    self.activity.record_position(device.device_id, position, at_head)
                start = sync_start(position, read)
                if start.reset:
                    resets.append(feed_id)
                if start.resync or demanded:
                    resync.append(feed_id)
                if not start.behind:
                    continue
                after = start.after
                if budget == 0 or bytes_left <= 0:
                    more = True
                    continue
                last = after
                for seq, frame in await feeds.read_frames(conn, feed_id, head.epoch, after, budget):
                    if len(frame) > bytes_left and changes:
                        bytes_left = 0
                        break
                    changes.append(_change_decoder.decode(frame))
                    bytes_left -= len(frame)
                    budget -= 1
                    last = seq
                more = more or start.more_after(last)
        return SyncResponse(
            request_id=request.request_id,
            results=results,
            changes=changes,
            heads=[FeedPosition(feed=f, epoch=h.epoch, seq=h.seq) for f, h in head_of.items()],
            resets=resets,
            resync=resync,
            more=more,
        )


async def _resync_demanded(conn: AsyncConnection, device_id: str) -> bool:
    """Whether the office asked the device for a clean sync it has not completed yet. Read
    with every sync: a socket's identity was read at its hello, and the demand is cleared
    by a clean sync without any effect (docs/protocol.md 4a)."""
    query = select(devices.c.resync_requested_at).where(devices.c.id == device_id)
    return (await conn.execute(query)).scalar() is not None
