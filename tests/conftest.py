"""Shared fixtures: a real server node on a free loopback port, seeded agencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from server import embedded
from server.clock import ManualClock, SystemClock
from server.node import Node
from server.settings import Settings
from tests import backing


class RunningServer(embedded.RunningServer):
    """The embedded server, with an HTTP client factory for tests."""

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10)


async def start_server(node: Node) -> RunningServer:
    started = await embedded.start_server(node)
    return RunningServer(started.node, started.port, started.server, started.task)


stop_server = embedded.stop_server


def test_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'server.db'}",
        "heartbeat_interval_s": 0.5,
        "ack_flush_interval_s": 0.05,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    with backing.postgres_admin_url() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    with backing.redis_url() as url:
        yield url


@pytest.fixture
def throwaway_redis() -> Iterator[backing.ThrowawayRedis]:
    """A redis-server of the test's own, which it may stop and start (never the shared one)."""
    try:
        server = backing.ThrowawayRedis()
        server.start()
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        backing.require_or_skip(f"cannot start a throwaway redis-server: {exc}")
        raise
    yield server
    server.stop()


@pytest.fixture
async def postgres_url(postgres_admin: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test."""
    async with backing.fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each store implementation in turn: the embedded SQLite file and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    async with backing.fresh_postgres_database(request.getfixturevalue("postgres_admin")) as url:
        yield url


@pytest.fixture
async def node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    """A started node without an HTTP listener, on each store (service-level tests)."""
    built = Node.build(test_settings(tmp_path, database_url=database_url))
    await built.start()
    yield built
    await built.stop()


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A served node whose clock moves only when the test says (mismatch passes run by hand)."""
    clock = ManualClock(SystemClock().now_ms())
    node = Node.build(test_settings(tmp_path, mismatch_interval_s=0), clock=clock)
    started = await start_server(node)
    yield started
    await stop_server(started)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A node served by uvicorn on a free loopback port."""
    started = await start_server(Node.build(test_settings(tmp_path)))
    yield started
    await stop_server(started)
