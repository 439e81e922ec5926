"""The store reads of greetings that wait at the same time, made as one statement.

A reconnect wave (a restart, a deploy, a network blip) brings hundreds of greetings at
once; read one by one, each pays a connection checkout, a ``BEGIN`` and a statement
through the async driver, which is most of what a connect costs. Here the greetings
that are waiting when a read starts share it: the identities of their token hashes in
one statement, the heads of their feeds in another. A lone greeting waits for nothing
but its own read (one loop turn for others to join); under load the reads that queue
up while one runs go together in the next.

Each read starts after its greetings asked for it, so it sees everything committed
before they asked (a greeting asks for heads only once its feeds are followed).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services import feeds
from server.services.identity import device_rows
from server.store.database import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BATCH_KEYS = 500
"""Keys per statement at most (a bound on the parameters of its ``IN``)."""


class Coalesced(Generic[K, V]):
    """``read(conn, keys) -> {key: value}``, shared by the callers waiting together."""

    def __init__(self, db: Database, read: Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]]) -> None:
        self.db = db
        self._read = read
        self._waiting: deque[tuple[list[K], asyncio.Future[dict[K, V]]]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self.reads = 0
        """Statements run so far (for tests and benchmarks)."""

    async def get(self, keys: list[K]) -> dict[K, V]:
        """The values found for ``keys`` (a key not found is left out)."""
        if not keys:
            return {}
        future: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, future))
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_all(), name="greeting-reads")
        return await future

    async def _read_all(self) -> None:
        batch: list[tuple[list[K], asyncio.Future[dict[K, V]]]] = []
        try:
            await asyncio.sleep(0)  # greetings of the same loop turn join this read
            while self._waiting:
                batch, wanted = [], dict[K, None]()
                while self._waiting and len(wanted) < BATCH_KEYS:
                    keys, future = self._waiting.popleft()
                    batch.append((keys, future))
                    wanted.update(dict.fromkeys(keys))
                try:
                    async with self.db.read() as conn:
                        found = await self._read(conn, list(wanted))
                except Exception as exc:
                    for _keys, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    self.reads += 1
                for keys, future in batch:
                    if not future.done():
                        future.set_result({k: found[k] for k in keys if k in found})
                batch = []
        finally:
            self._reader = None
            for _keys, future in [*batch, *self._waiting]:
                future.cancel()  # only when this task itself was cancelled (the node stops)
            self._waiting.clear()


async def _heads(conn: AsyncConnection, feed_ids: list[str]) -> dict[str, feeds.Head]:
    return await feeds.heads(conn, feed_ids)


class GreetingReads:
    """A node's coalesced greeting reads (the hub holds the node's one)."""

    def __init__(self, db: Database) -> None:
        self.identities: Coalesced[str, list[Row[Any]]] = Coalesced(db, device_rows)
        """Token hash -> the rows of ``server.services.identity.admitted``."""
        self.heads: Coalesced[str, feeds.Head] = Coalesced(db, _heads)
