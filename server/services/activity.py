"""Device activity in batches: acks and per-request bookkeeping land in memory and are
written together, never one database write per frame or per request.

The first record into an empty buffer starts a short linger (``linger_s``); when it
ends, everything buffered is written in one transaction. Under load that is one write
per linger however many devices are busy; when quiet, a record is written within
``linger_s``.

Every position a device reports counts as an ack (docs/protocol.md, section 2): ``ack``
frames, the positions in ``hello`` and in every ``sync_request`` (socket or HTTP, which
includes the standard sync that follows a clean-sync swap). All of them go through
:meth:`ActivityRecorder.record_position`, which accepts only what
:func:`protocol.tracker.proven_ack` allows. So a crash that loses buffered acks is
healed by the device's next report on any transport: its ``hello`` on reconnect, or its
next sync. Bookkeeping is likewise refreshed by its next request.

Each batch also leaves a delivery mark per acknowledged position, so the office sees when
each change reached a phone (:mod:`server.services.delivery_times`); a device acking twice
within one linger is marked at its later ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, String, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import DeviceSynced
from protocol.frames import FeedPosition
from protocol.heads import is_newer
from protocol.tracker import proven_ack
from server.bus.base import Bus
from server.clock import Clock
from server.periodic import backoff_s
from server.services import feeds
from server.services.console_feed import append_device_events
from server.services.delivery_times import mark_deliveries
from server.store.database import Database
from server.store.outage import StoreUnavailable
from server.store.schema import device_acks, devices
from server.store.upsert import insert_for

log = logging.getLogger(__name__)


@dataclass
class _Call:
    at: int
    ok: bool
    error: str | None
    app_version: str | None
    synced_at: int | None


class ActivityRecorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        linger_s: float,
        on_flushed: Callable[[list[str]], Awaitable[object]] | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.bus = bus
        self.linger_s = linger_s
        self.db = db
        self.clock = clock
        self.on_flushed = on_flushed
        """Called with the carer ids whose acks were just written (alert resolution)."""
        self._pending: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._calls: dict[str, _Call] = {}
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        """Held by the flush writing: another waits for it, so a flush returns only once
        everything recorded before it was called is written."""
        self.flushes = 0

    def record_position(self, device_id: str, reported: FeedPosition, head: FeedPosition) -> bool:
        """Record a position the device reported as its ack, if it proves one (True).

        The one entry point for every transport: ``head`` is the feed's head as the caller
        knows it (announced on the socket, or just read from the store). A position in
        another epoch or ahead of ``head`` records nothing; a recorded ack never moves back.
        """
        proven = proven_ack(reported, head)
        if proven is None:
            return False
        self.record(device_id, proven.feed, proven.epoch, proven.seq)
        return True

    def record(self, device_id: str, carer_id: str, epoch: int, seq: int) -> None:
        """Buffer an already validated ack (use :meth:`record_position` for reports)."""
        key = (device_id, carer_id)
        held = self._pending.get(key)
        if held is None or is_newer(epoch, seq, held[0], held[1]):
            self._pending[key] = (epoch, seq, self.clock.now_ms())
            self._arrived.set()

    def record_call(
        self,
        device_id: str,
        *,
        ok: bool,
        error_code: str | None = None,
        app_version: str | None = None,
        synced: bool = False,
    ) -> None:
        """Bookkeeping for one device request (hello or sync; HTTP or socket).

        ``last_sync_at`` moves only when ``synced``: a failed sync updates the call time
        and the success flag (with its error code) but not the last successful sync.
        """
        now = self.clock.now_ms()
        held = self._calls.get(device_id)
        self._calls[device_id] = _Call(
            at=now,
            ok=ok,
            error=None if ok else error_code,
            app_version=app_version or (held.app_version if held else None),
            synced_at=now if synced else (held.synced_at if held else None),
        )
        self._arrived.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="activity-recorder")

    async def stop(self) -> None:
        """Stop flushing in the background, then write what is left. A write in progress
        finishes first: a write cancelled half-way could leave its connection holding the
        database's write lock."""
        async with self._writing:
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
                self._task = None
            await self._flush_unlocked()

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._arrived.wait()
            await asyncio.sleep(backoff_s(self.linger_s, failures))
            self._arrived.clear()
            try:
                await self.flush()
                failures = 0
            except Exception as exc:
                if failures == 0 and not isinstance(exc, StoreUnavailable):  # an outage is logged by the store
                    log.exception("writing acks failed; retrying with backoff")
                failures += 1
                self._arrived.set()

    async def flush(self) -> None:
        """Write what was recorded so far; returns once it is written (or raises)."""
        async with self._writing:
            await self._flush_unlocked()

    async def _flush_unlocked(self) -> None:
        if not self._pending and not self._calls:
            return
        batch, self._pending = self._pending, {}
        calls, self._calls = self._calls, {}
        rows = [
            {"device_id": d, "carer_id": c, "epoch": e, "seq": s, "acked_at": at}
            for (d, c), (e, s, at) in batch.items()
        ]
        synced = sorted(d for d, call in calls.items() if call.synced_at is not None)
        try:
            async with self.db.write() as conn:
                if rows:
                    await _upsert_acks(conn, rows)
                    await mark_deliveries(conn, ((c, e, s, at) for (_d, c), (e, s, at) in batch.items()))
                if calls:
                    await _write_calls(conn, calls)
                events = await append_device_events(conn, synced, DeviceSynced, self.clock.now_ms())
        except BaseException:  # a failed write, or a cancelled one (the node stopping): kept for the next
            for (d, c), (e, s, _at) in batch.items():
                self.record(d, c, e, s)
            self._calls = {**calls, **self._calls}
            raise
        self.flushes += 1
        if self.bus is not None:
            await feeds.ring(self.bus, events)
        if self.on_flushed is not None and batch:
            await self.on_flushed(sorted({c for (_d, c) in batch}))


async def _upsert_acks(conn: AsyncConnection, rows: list[dict[str, object]]) -> None:
    """Insert or raise each (device, feed) ack; a newer epoch replaces, seqs only grow."""
    stmt = insert_for(conn, device_acks)
    stmt = stmt.on_conflict_do_update(
        index_elements=[device_acks.c.device_id, device_acks.c.carer_id],
        set_={
            "epoch": stmt.excluded.epoch,
            "seq": stmt.excluded.seq,
            "acked_at": stmt.excluded.acked_at,
        },
        where=(stmt.excluded.epoch > device_acks.c.epoch)
        | ((stmt.excluded.epoch == device_acks.c.epoch) & (stmt.excluded.seq > device_acks.c.seq)),
    )
    await conn.execute(stmt, rows)


async def _write_calls(conn: AsyncConnection, calls: dict[str, _Call]) -> None:
    stmt = (
        update(devices)
        .where(devices.c.id == bindparam("device"))
        .values(
            last_api_call_at=bindparam("at"),
            last_api_call_ok=bindparam("ok"),
            last_api_error=bindparam("error"),
            app_version=func.coalesce(bindparam("app_version", type_=String), devices.c.app_version),
            last_sync_at=func.coalesce(bindparam("synced_at", type_=BigInteger), devices.c.last_sync_at),
        )
    )
    await conn.execute(
        stmt,
        [
            {
                "device": d,
                "at": c.at,
                "ok": c.ok,
                "error": c.error,
                "app_version": c.app_version,
                "synced_at": c.synced_at,
            }
            for d, c in calls.items()
        ],
    )
