"""How many database connections a node holds: derived per store, or as configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store.database import Database
from server.store.hot.pg_connections import HOT_CONNECTIONS
from server.store.pool_budget import PoolBudget, pool_budget


@pytest.mark.parametrize(
    ("url", "size", "expected"),
    [
        ("postgresql://h/db", 0, PoolBudget(total=24, hot=HOT_CONNECTIONS, kept=8, overflow=8)),
        ("postgresql+asyncpg://h/db", 12, PoolBudget(total=12, hot=4, kept=4, overflow=4)),
        ("postgresql://h/db", 1, PoolBudget(total=2, hot=1, kept=1, overflow=0)),
        ("postgresql://h/db", 100, PoolBudget(total=100, hot=HOT_CONNECTIONS, kept=46, overflow=46)),
        ("sqlite:///caresync.db", 0, PoolBudget(total=40, hot=0, kept=20, overflow=20)),
        ("sqlite+aiosqlite:///caresync.db", 5, PoolBudget(total=5, hot=0, kept=3, overflow=2)),
    ],
)
def test_the_budget_for_each_store(url: str, size: int, expected: PoolBudget) -> None:
    budget = pool_budget(url, size)
    assert budget == expected
    assert budget.hot + budget.kept + budget.overflow == budget.total


async def test_the_engine_and_the_hot_connections_follow_the_budget(postgres_url: str, tmp_path: Path) -> None:
    db = Database(postgres_url, pool_size=12)
    try:
        assert db.engine.pool.size() == 4  # type: ignore[attr-defined]
        assert db.engine.pool._max_overflow == 4  # type: ignore[attr-defined]
        assert db._hot_pg is not None and db._hot_pg.size == 4
    finally:
        await db.close()
    sqlite = Database(f"sqlite:///{tmp_path / 'server.db'}")
    try:
        assert sqlite.engine.pool.size() == 20  # type: ignore[attr-defined]
    finally:
        await sqlite.close()
