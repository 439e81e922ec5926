"""A scratch table and a held writer thread, for the tests of hot writes."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import text

from server.store.database import Database
from server.store.hot.steps import Steps


class Refused(Exception):
    pass


async def scratch_database(url: str) -> Database:
    """A database with an empty ``scratch (id, note)`` table."""
    db = Database(url)
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL)"))
    return db


def insert(row_id: int, note: str, *, then_fail: bool = False) -> Steps[int]:
    rows = yield ("INSERT INTO scratch (id, note) VALUES (?, ?) RETURNING id", (row_id, note))
    if then_fail:
        raise Refused(f"write {row_id} refused after its insert")
    returned: int = rows[0][0]
    return returned


async def stored(db: Database) -> dict[int, str]:
    async with db.read() as conn:
        return {r.id: r.note for r in await conn.execute(text("SELECT id, note FROM scratch"))}


class HeldWrite:
    """A hot write inserting ``(row_id, note)`` that keeps SQLite's writer thread busy until
    released, so that the writes queued meanwhile wait behind it (and go in one batch)."""

    def __init__(self, db: Database, row_id: int, note: str) -> None:
        self._running, self._release = threading.Event(), threading.Event()

        def holding() -> Steps[int]:
            self._running.set()
            self._release.wait(10)
            return (yield from insert(row_id, note))

        self.task = asyncio.create_task(db.hot_write(holding))

    async def started(self) -> None:
        """Until the writer thread runs the held write."""
        await asyncio.to_thread(self._running.wait, 10)

    def release(self) -> None:
        self._release.set()
