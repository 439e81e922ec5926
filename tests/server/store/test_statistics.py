"""SQLite's planner statistics are refreshed by the store (PostgreSQL keeps its own)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from server.node import Node
from server.seeding import seed_agency
from tests.conftest import test_settings as settings_for


async def _stat_rows(node: Node) -> int:
    async with node.db.read() as conn:
        exists = (await conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))).scalar()
        if not exists:
            return 0
        return int((await conn.execute(text("SELECT count(*) FROM sqlite_stat1"))).scalar_one())


async def test_the_retention_pass_leaves_sqlite_with_statistics(tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path))
    await node.start()
    try:
        await seed_agency(node, carers=3, clients=2, visits_per_carer=4)
        before = await _stat_rows(node)
        await node._compact()
        assert before == 0, "a new store has no statistics"
        assert await _stat_rows(node) > 0
    finally:
        await node.stop()


async def test_postgresql_is_left_to_its_autovacuum(postgres_url: str, tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path, database_url=postgres_url))
    await node.start()
    try:
        assert await node.db.refresh_statistics() is False
    finally:
        await node.stop()
