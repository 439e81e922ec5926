"""The start-up warning when the cluster's pools add up to more than PostgreSQL's
``max_connections`` allows, read from a real server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from server.clock import SystemClock
from server.pool_check import pool_fit, warn_if_pools_exceed_server
from server.settings import Settings
from server.store.database import Database
from server.store.schema import nodes


async def _limits(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.read() as conn:
            limit = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
            reserved = int((await conn.execute(text("SHOW superuser_reserved_connections"))).scalar_one())
    finally:
        await db.close()
    return limit, reserved


async def _live_nodes(url: str, names: list[str]) -> None:
    db = Database(url)
    try:
        await db.migrate()
        now = SystemClock().now_ms()
        async with db.write() as conn:
            for name in names:
                await conn.execute(insert(nodes).values(id=name, started_at=now, last_seen_at=now))
    finally:
        await db.close()


async def test_pools_that_fit_give_no_warning(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    limit, reserved = await _limits(postgres_url)
    settings = Settings(database_url=postgres_url, database_pool_size=(limit - reserved) // 2)
    with caplog.at_level(logging.WARNING, logger="caresync.pool"):
        fit = await warn_if_pools_exceed_server(settings, "node-a")
    assert fit is not None and fit.fits
    assert (fit.nodes, fit.max_connections, fit.reserved) == (1, limit, reserved)
    assert caplog.records == []


async def test_the_live_nodes_count_and_one_node_too_many_is_warned_of(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limit, reserved = await _limits(postgres_url)
    pool = (limit - reserved) // 2
    await _live_nodes(postgres_url, ["node-b", "node-c"])
    settings = Settings(database_url=postgres_url, database_pool_size=pool)
    with caplog.at_level(logging.WARNING, logger="caresync.pool"):
        fit = await warn_if_pools_exceed_server(settings, "node-a")
    assert fit is not None and not fit.fits
    assert (fit.nodes, fit.pool, fit.needed) == (3, pool, 3 * pool)
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        f"3 node(s) x {pool} database connections each (--database-pool-size) = {3 * pool}, more than the "
        f"{limit - reserved} PostgreSQL allows (max_connections {limit} less {reserved} for superusers)"
    )
    assert f"Set --database-pool-size to {(limit - reserved) // 3} or less" in warning


async def test_expected_nodes_count_before_they_have_started(postgres_url: str) -> None:
    limit, _ = await _limits(postgres_url)
    settings = Settings(database_url=postgres_url, expected_nodes=limit)
    db = Database(postgres_url)
    try:
        fit = await pool_fit(db, settings, "node-a")
    finally:
        await db.close()
    assert fit is not None and not fit.fits
    assert (fit.nodes, fit.pool) == (limit, 24)


async def test_a_new_install_without_a_schema_counts_itself(postgres_url: str) -> None:
    fit = await warn_if_pools_exceed_server(Settings(database_url=postgres_url), "node-a")
    assert fit is not None and fit.nodes == 1 and fit.fits


async def test_sqlite_has_no_server_limit(tmp_path: Path) -> None:
    assert await warn_if_pools_exceed_server(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}"), "n") is None


async def test_a_server_that_cannot_be_asked_is_a_warning_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/none")
    with caplog.at_level(logging.WARNING, logger="caresync.pool"):
        assert await warn_if_pools_exceed_server(settings, "node-a") is None
    [warning] = [r.getMessage() for r in caplog.records if r.name == "caresync.pool"]
    assert warning.startswith("could not compare the database pools with PostgreSQL's max_connections: ")
