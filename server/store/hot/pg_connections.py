"""PostgreSQL connections kept for hot writes, outside SQLAlchemy's pool.

A hot write takes a plain asyncpg connection from here, runs its steps in one
transaction (each statement prepared once per connection by asyncpg's statement cache)
and puts it back; a connection that failed with an outage error is closed, not reused,
and so is every idle one: they sat through the same outage (a restart, a silent network),
so the writes after it open fresh connections rather than each failing on a dead one.
A write waits at most ``wait_timeout_s`` for a free connection and each statement runs
at most ``command_timeout_s``: a stalled store then answers as unavailable (a
``TimeoutError``), as the ORM pool does after its ``pool_timeout``.
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
from server.tunables import HOT_COMMAND_TIMEOUT_S, STORE_CHECKOUT_TIMEOUT_S

HOT_CONNECTIONS = 8
"""Hot writes in flight at once per node; more wait for a connection."""
CONNECT_TIMEOUT_S = 10.0


class HotConnections:
    def __init__(
        self,
        dsn: str,
        size: int = HOT_CONNECTIONS,
        *,
        wait_timeout_s: float = STORE_CHECKOUT_TIMEOUT_S,
        command_timeout_s: float = HOT_COMMAND_TIMEOUT_S,
    ) -> None:
        self.dsn = dsn
        self.size = size
        self.wait_timeout_s = wait_timeout_s
        self.command_timeout_s = command_timeout_s
        self._idle: list[Any] = []
        self._slots: asyncio.Semaphore | None = None

    @property
    def idle(self) -> int:
        """Connections kept open for the next writes."""
        return len(self._idle)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        try:
            async with asyncio.timeout(self.wait_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise TimeoutError(f"no hot-write connection came free within {self.wait_timeout_s} s") from None
        try:
            conn = None
            while self._idle and conn is None:
                conn = self._idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await asyncpg.connect(
                    self.dsn, timeout=CONNECT_TIMEOUT_S, command_timeout=self.command_timeout_s
                )
            try:
                yield conn
            except BaseException as exc:
                if is_unavailable(exc):
                    conn.terminate()
                    self._drop_idle()
                elif not isinstance(exc, Exception) or conn.is_in_transaction():
                    conn.terminate()  # cancelled mid-statement: never reused
                else:
                    self._idle.append(conn)
                raise
            self._idle.append(conn)
        finally:
            self._slots.release()

    def _drop_idle(self) -> None:
        """Close the idle connections: an outage broke them too, however open they look."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
