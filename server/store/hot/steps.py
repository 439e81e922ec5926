"""Hot write paths as driver-neutral steps, and the drivers that run them.

A hot write (a rota change) is a generator that yields ``(sql, params)`` statements with
``?`` placeholders and receives each statement's rows back; what it returns is the
write's result. The same steps run on SQLite's dedicated writer thread (plain
``sqlite3``, :mod:`server.store.hot.sqlite_writer`) and on a raw asyncpg connection (PostgreSQL,
statements prepared once per connection by asyncpg's statement cache), so the hot
statements skip the async ORM layer and, on SQLite, every per-statement thread hop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Generator, Sequence
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")

Statement = tuple[str, tuple[Any, ...]]
Rows = list[Sequence[Any]]
Steps = Generator[Statement, Rows, T]
"""Yields statements, is sent each one's rows, returns the write's result."""
StepsFactory = Callable[[], Steps[T]]


Execute = Callable[[str, tuple[Any, ...]], Rows]
"""Runs one statement (``?`` placeholders) and returns its rows."""
AsyncExecute = Callable[[str, tuple[Any, ...]], Awaitable[Rows]]


def run_steps(steps: Steps[T], execute: Execute) -> T:
    """Drive ``steps``: each statement it yields is run by ``execute`` and its rows sent back."""
    rows: Rows | None = None
    try:
        while True:
            sql, params = steps.send(rows)  # type: ignore[arg-type]  # the first send must be None
            rows = execute(sql, params)
    except StopIteration as done:
        result: T = done.value
        return result


async def run_steps_async(steps: Steps[T], execute: AsyncExecute) -> T:
    """:func:`run_steps` with an ``execute`` that awaits its driver."""
    rows: Rows | None = None
    try:
        while True:
            sql, params = steps.send(rows)  # type: ignore[arg-type]
            rows = await execute(sql, params)
    except StopIteration as done:
        result: T = done.value
        return result


def run_on_sqlite(conn: sqlite3.Connection, steps: Steps[T]) -> T:
    """Run ``steps`` on a plain sqlite3 connection (inside the caller's transaction)."""
    return run_steps(steps, lambda sql, params: conn.execute(sql, params).fetchall())


async def run_on_asyncpg(conn: Any, steps: Steps[T]) -> T:
    """Run ``steps`` on an asyncpg connection (inside the caller's transaction)."""

    async def execute(sql: str, params: tuple[Any, ...]) -> Rows:
        rows: Rows = await conn.fetch(numbered(sql), *params)
        return rows

    return await run_steps_async(steps, execute)


async def run_on_sqlalchemy(conn: Any, steps: Steps[T]) -> T:
    """Run ``steps`` through SQLAlchemy's driver-level execution, inside ``conn``'s
    transaction (an in-memory SQLite store's hot writes; steps shared with an ORM write)."""
    number = conn.dialect.paramstyle != "qmark"

    async def execute(sql: str, params: tuple[Any, ...]) -> Rows:
        result = await conn.exec_driver_sql(numbered(sql) if number else sql, params)
        return list(result.fetchall()) if result.returns_rows else []

    return await run_steps_async(steps, execute)


@lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (hot statements have no ``?`` in literals)."""
    parts = sql.split("?")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]
