"""/livez and /readyz: readiness names the failing dependency and recovers with it.

PostgreSQL and Redis are stopped here, so these tests start their own throwaway
servers from the installed binaries; the shared ones are never touched.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.node import Node
from tests import backing, conftest
from tests.conftest import RunningServer, start_server, stop_server
from tests.support import eventually


async def _ready(running: RunningServer) -> tuple[int, dict[str, Any]]:
    async with running.http() as http:
        response = await http.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def _failing(running: RunningServer, dependency: str) -> bool:
    status, body = await _ready(running)
    return status == 503 and dependency in body["failing"]


async def _is_ready(running: RunningServer) -> bool:
    status, _ = await _ready(running)
    return status == 200


async def test_live_and_ready_on_a_healthy_node(running: RunningServer) -> None:
    async with running.http() as http:
        live = await http.get("/livez")
    assert live.status_code == 200
    assert live.json() == {"status": "ok", "node": running.node.node_id}
    assert await _ready(running) == (200, {"status": "ok", "node": running.node.node_id})


async def test_a_draining_node_is_not_ready(running: RunningServer) -> None:
    running.node.draining = True
    status, body = await _ready(running)
    assert status == 503
    assert body["failing"]["node"].startswith("draining")
    async with running.http() as http:
        assert (await http.get("/livez")).status_code == 200


@pytest.fixture
def throwaway_postgres() -> Iterator[backing.ThrowawayPostgres]:
    try:
        server = backing.ThrowawayPostgres()
        server.start()
    except (FileNotFoundError, OSError, subprocess.CalledProcessError) as exc:
        backing.require_or_skip(f"cannot start a throwaway PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
async def on_throwaway_redis(tmp_path: Path, throwaway_redis: backing.ThrowawayRedis) -> AsyncIterator[RunningServer]:
    started = await start_server(Node.build(conftest.test_settings(tmp_path, redis_url=throwaway_redis.url)))
    yield started
    await stop_server(started)


async def test_ready_turns_503_naming_the_bus_when_redis_stops_and_200_when_back(
    on_throwaway_redis: RunningServer, throwaway_redis: backing.ThrowawayRedis
) -> None:
    assert await _is_ready(on_throwaway_redis)
    throwaway_redis.stop()
    await eventually(lambda: _failing(on_throwaway_redis, "bus"), timeout=15)
    _, body = await _ready(on_throwaway_redis)
    assert "database" not in body["failing"]
    throwaway_redis.start()
    await eventually(lambda: _is_ready(on_throwaway_redis), timeout=30)


async def test_ready_turns_503_naming_the_database_when_postgres_stops_and_200_when_back(
    tmp_path: Path, throwaway_postgres: backing.ThrowawayPostgres
) -> None:
    node = Node.build(conftest.test_settings(tmp_path, database_url=throwaway_postgres.admin_url))
    running = await start_server(node)
    try:
        assert await _is_ready(running)
        throwaway_postgres.pause()
        await eventually(lambda: _failing(running, "database"), timeout=15)
        _, body = await _ready(running)
        assert "bus" not in body["failing"]
        async with running.http() as http:
            assert (await http.get("/livez")).status_code == 200
        throwaway_postgres.resume()
        await eventually(lambda: _is_ready(running), timeout=30)
    finally:
        await stop_server(running)


async def test_probes_answer_json_with_a_json_content_type(running: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        for path in ("/livez", "/readyz", "/healthz"):
            assert (await http.get(path)).headers["content-type"] == "application/json"
