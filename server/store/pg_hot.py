"""PostgreSQL connections kept for hot writes, outside SQLAlchemy's pool.

A hot write takes a plain asyncpg connection from here, runs its steps in one
transaction (each statement prepared once per connection by asyncpg's statement cache)
and puts it back; a connection that failed with an outage error is closed, not reused.
Checking out from SQLAlchemy's pool instead costs a pooled-connection wrapper, reset and
event dispatch on every write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from server.store.outage import is_unavailable

HOT_CONNECTIONS = 8
"""Hot writes in flight at once per node; more wait for a connection."""
CONNECT_TIMEOUT_S = 10.0


class HotConnections:
    def __init__(self, dsn: str, size: int = HOT_CONNECTIONS) -> None:
        self.dsn = dsn
        self.size = size
        self._idle: list[Any] = []
        self._slots: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                conn = self._idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)
            try:
                yield conn
            except BaseException as exc:
                if is_unavailable(exc) or not isinstance(exc, Exception) or conn.is_in_transaction():
                    conn.terminate()  # broken, or cancelled mid-statement: never reused
                else:
                    self._idle.append(conn)
                raise
            self._idle.append(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
