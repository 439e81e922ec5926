"""Greetings waiting at the same time share one store read; a failed read fails them all."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.database import Database
from server.ws.greeting_reads import Coalesced


async def test_waiting_greetings_share_a_read_and_each_gets_its_own_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    asked: list[list[str]] = []

    async def read(conn: AsyncConnection, keys: list[str]) -> dict[str, int]:
        asked.append(keys)
        return {k: len(k) for k in keys if k != "missing"}

    reads: Coalesced[str, int] = Coalesced(db, read)
    try:
        answers = await asyncio.gather(reads.get(["a", "bb"]), reads.get(["bb", "missing"]), reads.get(["ccc"]))
        assert answers == [{"a": 1, "bb": 2}, {"bb": 2}, {"ccc": 3}]
        assert asked == [["a", "bb", "missing", "ccc"]] and reads.reads == 1
        assert await reads.get(["dddd"]) == {"dddd": 4}, "a lone greeting reads alone"
        assert reads.reads == 2
        assert await reads.get([]) == {} and reads.reads == 2, "nothing to read, no read"
    finally:
        await db.close()


async def test_a_failed_read_fails_every_greeting_that_shared_it_and_not_the_next(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    failing = True

    async def read(conn: AsyncConnection, keys: list[str]) -> dict[str, int]:
        if failing:
            raise RuntimeError("store gone")
        return dict.fromkeys(keys, 1)

    reads: Coalesced[str, int] = Coalesced(db, read)
    try:
        results = await asyncio.gather(reads.get(["a"]), reads.get(["b"]), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        failing = False
        assert await reads.get(["a"]) == {"a": 1}
    finally:
        await db.close()
