"""Shared fixtures: a real server node on a free loopback port, seeded agencies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from server.app import DEVICE_SOCKET_PATH, create_app
from server.clock import ManualClock, SystemClock
from server.node import Node
from server.settings import Settings
from tests import backing


@dataclass
class RunningServer:
    node: Node
    base_url: str
    ws_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10)


async def start_server(node: Node) -> RunningServer:
    config = uvicorn.Config(
        create_app(node), host="127.0.0.1", port=0, log_level="warning", ws_max_size=1024 * 1024, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(node, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}{DEVICE_SOCKET_PATH}", server, task)


async def stop_server(running: RunningServer) -> None:
    running.server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running.task, 10)


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
