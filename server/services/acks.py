"""Recording device acks in batches: acks land in memory and are written together.

The first ack into an empty buffer starts a short linger (``linger_s``); when it ends,
everything buffered is written in one transaction. Under load that is one write per
linger however many devices ack; when quiet, an ack is written within ``linger_s``.
A crash loses at most the buffered acks; the device re-acks on its next connection
(acks are cumulative), so nothing is lost for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import Clock
from server.store.database import Database
from server.store.schema import device_acks
from server.store.upsert import insert_for

log = logging.getLogger(__name__)


class AckRecorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        linger_s: float,
        on_flushed: Callable[[list[str]], Awaitable[object]] | None = None,
    ) -> None:
        self.linger_s = linger_s
        self.db = db
        self.clock = clock
        self.on_flushed = on_flushed
        """Called with the carer ids whose acks were just written (alert resolution)."""
        self._pending: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    def record(self, device_id: str, carer_id: str, epoch: int, seq: int) -> None:
        key = (device_id, carer_id)
        held = self._pending.get(key)
        if held is None or (epoch, seq) > (held[0], held[1]):
            self._pending[key] = (epoch, seq, self.clock.now_ms())
            self._arrived.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ack-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            await asyncio.sleep(self.linger_s)
            self._arrived.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing acks failed; retrying")
                self._arrived.set()
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [
            {"device_id": d, "carer_id": c, "epoch": e, "seq": s, "acked_at": at}
            for (d, c), (e, s, at) in batch.items()
        ]
        try:
            async with self.db.write() as conn:
                await _upsert_acks(conn, rows)
        except Exception:
            for (d, c), (e, s, _at) in batch.items():
                self.record(d, c, e, s)
            raise
        self.flushes += 1
        if self.on_flushed is not None:
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
