"""A full disk in the middle of a group commit fails every write of the batch as unavailable."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text

from server.store.database import Database
from server.store.hot import Steps
from server.store.outage import StoreUnavailable


def _insert(row_id: int, note: str) -> Steps[int]:
    rows = yield ("INSERT INTO scratch (id, note) VALUES (?, ?) RETURNING id", (row_id, note))
    returned: int = rows[0][0]
    return returned


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
    return (yield from _insert(row_id, "after"))


async def test_a_full_disk_inside_a_batch_fails_every_write_in_it_as_unavailable(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'full.db'}")
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note TEXT NOT NULL)"))
    try:
        running, release = threading.Event(), threading.Event()

        def holding() -> Steps[int]:
            # Keeps the writer thread busy until the batch below has been queued behind it.
            running.set()
            release.wait(10)
            return (yield from _insert(0, "first"))

        first = asyncio.create_task(db.hot_write(holding))
        await asyncio.to_thread(running.wait, 10)
        batch = [
            asyncio.create_task(db.hot_write(lambda: _insert(1, "before"))),
            asyncio.create_task(db.hot_write(_filling_the_disk)),
            asyncio.create_task(db.hot_write(lambda: _insert(2, "behind"))),
        ]
        await asyncio.sleep(0)  # every write of the batch is queued
        release.set()
        assert await first == 0
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
