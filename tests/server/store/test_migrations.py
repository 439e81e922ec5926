from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from server.node import Node
from server.store.schema import metadata


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_migrated_database_matches_the_schema(node: Node) -> None:
    async with node.db.read() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrating_twice_is_harmless(node: Node) -> None:
    await node.db.migrate()
    async with node.db.read() as conn:
        assert await conn.run_sync(_diff) == []
