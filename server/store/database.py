"""The async SQL engine with read and write transactions for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from server.observability.instruments import STORE_TRANSACTION, watch_engine
from server.store import sqlite_settings
from server.store.hot.pg_connections import HotConnections
from server.store.hot.sqlite_writer import SqliteWriter
from server.store.hot.steps import StepsFactory, T, run_on_asyncpg, run_on_sqlalchemy
from server.store.migrate import upgrade_to_head
from server.store.outage import OutageLog, StoreUnavailable, is_unavailable
from server.store.pool_budget import pool_budget
from server.store.revisions import upgrade_sqlite
from server.tunables import HOT_COMMAND_TIMEOUT_S, MIGRATION_LOCK_ID, STORE_CHECKOUT_TIMEOUT_S


def async_url(url: str) -> str:
    """Map a plain database URL to the async driver caresync uses for it."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


ANALYSIS_LIMIT = 1000
"""Rows SQLite's ANALYZE samples per index (``PRAGMA analysis_limit``)."""


class Database:
    """Owns the engine. ``write()`` transactions are serialised on SQLite.

    ``hot_write()`` runs a hot write's steps (:mod:`server.store.hot.steps`) without the async
    ORM: on a SQLite file on the dedicated writer thread with group commit, on
    PostgreSQL on a raw asyncpg connection of its own small pool
    (:class:`server.store.hot.pg_connections.HotConnections`, counted in the node's pool budget), in a
    transaction of its own.
    """

    def __init__(
        self,
        url: str,
        *,
        checkout_timeout_s: float = STORE_CHECKOUT_TIMEOUT_S,
        hot_command_timeout_s: float = HOT_COMMAND_TIMEOUT_S,
        pool_size: int = 0,
    ) -> None:
        self.url = async_url(url)
        self.budget = pool_budget(self.url, pool_size)
        # Device sessions borrow a connection for one short query at a time; a reconnect
        # storm makes thousands of them wait at once, so the pool is wider than the default.
        # A checkout that waits longer than pool_timeout means the store cannot keep up: it is
        # answered as unavailable (503) rather than left hanging; so is a hot write's.
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=self.budget.kept,
            max_overflow=self.budget.overflow,
            pool_timeout=checkout_timeout_s,
        )
        self.dialect = self.engine.dialect.name
        self._write_lock = asyncio.Lock()
        self.outage = OutageLog()
        _discard_broken_connections(self.engine)
        watch_engine(self.engine.sync_engine)
        self._writer: SqliteWriter | None = None
        self._hot_pg: HotConnections | None = None
        if self.dialect == "postgresql":
            self._hot_pg = HotConnections(
                make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False),
                self.budget.hot,
                wait_timeout_s=checkout_timeout_s,
                command_timeout_s=hot_command_timeout_s,
            )
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
            path = make_url(self.url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                self._writer = SqliteWriter(path)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn:
                yield conn
        except Exception as exc:
            raise self._classified(exc) from exc
        self.outage.succeeded()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        try:
            if self.dialect != "sqlite":
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self._write_lock, self._writer_turn(), self.engine.connect() as raw:
                    conn = await raw.execution_options(sqlite_begin="IMMEDIATE")
                    async with conn.begin():
                        yield conn
        except Exception as exc:
            raise self._classified(exc, writing=True) from exc
        self.outage.succeeded(writing=True)

    def _writer_turn(self) -> AbstractAsyncContextManager[None]:
        """On a SQLite file, an ORM write waits its turn with the writer thread's hot writes."""
        return self._writer.exclusive() if self._writer is not None else nullcontext()

    async def hot_write(self, steps: StepsFactory[T]) -> T:
        """Run ``steps`` in a write transaction; its result once committed.

        An exception raised by the steps rolls back that write alone and is raised here;
        a store outage becomes :class:`StoreUnavailable`, as for ``write()``. Never call it
        inside a ``write()`` block: on SQLite that block holds the writer thread.
        """
        try:
            if self._writer is not None:
                result = await self._writer.submit(steps)
            elif self.dialect == "postgresql":
                result = await self._hot_write_asyncpg(steps)
            else:
                async with self.write() as conn:
                    return await run_on_sqlalchemy(conn, steps())
        except Exception as exc:
            raise self._classified(exc, writing=True) from exc
        self.outage.succeeded(writing=True)
        return result

    async def _hot_write_asyncpg(self, steps: StepsFactory[T]) -> T:
        assert self._hot_pg is not None
        async with self._hot_pg.connection() as conn:
            began = time.perf_counter()
            outcome = "rollback"
            try:
                async with conn.transaction():
                    result = await run_on_asyncpg(conn, steps())
                outcome = "commit"
                return result
            finally:
                STORE_TRANSACTION.labels(outcome).observe(time.perf_counter() - began)

    @property
    def group_commits(self) -> int:
        """Transactions the SQLite writer thread committed (0 on other stores)."""
        return self._writer.commits if self._writer is not None else 0

    def _classified(self, error: Exception, *, writing: bool = False) -> Exception:
        """A store outage becomes :class:`StoreUnavailable` (logged once per outage)."""
        if isinstance(error, StoreUnavailable) or not is_unavailable(error):
            return error
        self.outage.failed(error, writing=writing)
        return StoreUnavailable(error)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        if self._writer is not None:  # a SQLite file: foreign keys off around the transaction
            async with self._write_lock, self._writer_turn(), self.engine.connect() as raw:
                await raw.run_sync(upgrade_sqlite)
            return
        async with self.write() as conn:
            if self.dialect == "postgresql":
                # Nodes starting together migrate one after another, not concurrently.
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            await conn.run_sync(upgrade_to_head)

    async def refresh_statistics(self) -> bool:
        """Store fresh planner statistics on SQLite, which keeps none by itself (its planner
        then guesses: the "delivered but not seen" candidates query took 178 ms at 10,000
        carers without them and 22 ms with them). Each index is sampled, at most
        :data:`ANALYSIS_LIMIT` rows, so the cost stays bounded however large the store grows.
        PostgreSQL's autovacuum keeps its own: nothing is done there. True when it ran."""
        if self.dialect != "sqlite":
            return False
        async with self.write() as conn:
            await conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            await conn.exec_driver_sql("ANALYZE")
        return True

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._hot_pg is not None:
            await self._hot_pg.close()
        await self.engine.dispose()


def _discard_broken_connections(engine: AsyncEngine) -> None:
    """Treat every outage error as a disconnect, so SQLAlchemy invalidates the connection
    (and the pool's older ones) instead of handing a broken connection to the next caller.
    Costs nothing per checkout, unlike a pre-ping."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if not context.is_disconnect and is_unavailable(context.original_exception):
            context.is_disconnect = True


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        sqlite_settings.configure(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
