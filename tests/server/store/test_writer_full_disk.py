"""A full disk in the middle of a group commit fails every write of the batch as unavailable."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from server.store.hot.steps import Steps
from server.store.outage import StoreUnavailable
from tests.server.store.scratch import HeldWrite, insert, scratch_database


def _filling_the_disk() -> Steps[int]:
    # The file may not grow any more. A single-row INSERT without RETURNING (as a feed
    # entry's) keeps no statement journal, so SQLite answers SQLITE_FULL by rolling the
    # whole transaction back, savepoints and all, as it does when the disk itself is full.
    rows = yield ("PRAGMA page_count", ())
    yield (f"PRAGMA max_page_count = {int(rows[0][0])}", ())
    yield ("INSERT INTO scratch (id, note) VALUES (?, ?)", (50, "x" * 1_000_000))
    return 50


def _with_room_again(row_id: int) -> Steps[int]:
    yield ("PRAGMA max_page_count = 1073741823", ())
    return (yield from insert(row_id, "after"))


async def test_a_full_disk_inside_a_batch_fails_every_write_in_it_as_unavailable(tmp_path: Path) -> None:
    db = await scratch_database(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        first = HeldWrite(db, 0, "first")  # the batch below is queued behind it
        await first.started()
        batch = [
            asyncio.create_task(db.hot_write(lambda: insert(1, "before"))),
            asyncio.create_task(db.hot_write(_filling_the_disk)),
            asyncio.create_task(db.hot_write(lambda: insert(2, "behind"))),
        ]
        await asyncio.sleep(0)  # every write of the batch is queued
        first.release()
        assert await first.task == 0
        outcomes = await asyncio.gather(*batch, return_exceptions=True)
        assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
        assert db.outage.in_outage
        async with db.read() as conn:
            kept = {r.id for r in await conn.execute(text("SELECT id FROM scratch"))}
        assert kept == {0}  # nothing of the failed batch, and no write of it reported committed
        assert await db.hot_write(lambda: _with_room_again(3)) == 3
        assert not db.outage.in_outage
    finally:
        await db.close()
