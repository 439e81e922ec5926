"""An office demand for a clean sync (``POST /api/v1/devices/{id}/resync``) reaches the
device on every path (docs/protocol.md 4a, "Resync triggers"): an HTTP-only device in its
next ``sync_response.resync``, a device that reconnects right after the demand in its
``welcome``, on the node that took the demand and on any other node of the cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol.frames import FeedPosition, Welcome
from server.clock import to_datetime
from server.ids import hash_token
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.services.identity import DeviceIdentity, authenticate_device
from server.settings import Settings
from server.store.schema import devices
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def agency(clocked: RunningServer) -> SeededAgency:
    return await seed_agency(clocked.node, carers=1, visits_per_carer=3, day=to_datetime(clocked.node.clock.now_ms()))


async def _demand(running: RunningServer, agency: SeededAgency, carer: SeededCarer) -> None:
    async with running.http(agency.admin_token) as http:
        response = await http.post(f"/api/v1/devices/{carer.device_id}/resync")
        assert response.status_code == 200, response.text


async def _sync_over_http(running: RunningServer, carer: SeededCarer, seq: int) -> list[str]:
    body = {"type": "sync_request", "request_id": f"s{seq}", "positions": [{"feed": carer.id, "epoch": 1, "seq": seq}]}
    async with running.http(carer.device_token) as http:
        reply = await http.post("/api/v1/device/sync", json=body)
    assert reply.status_code == 200, reply.text
    resync = reply.json()["resync"]
    assert isinstance(resync, list)
    return resync


async def _demanded(node: Node, carer: SeededCarer) -> bool:
    async with node.db.read() as conn:
        query = select(devices.c.resync_requested_at).where(devices.c.id == carer.device_id)
        return (await conn.execute(query)).scalar() is not None


async def test_an_http_only_device_is_told_in_its_next_sync_answer(
    clocked: RunningServer, agency: SeededAgency
) -> None:
    carer = agency.carers[0]
    assert await _sync_over_http(clocked, carer, 3) == []
    await _demand(clocked, agency, carer)
    assert await _sync_over_http(clocked, carer, 3) == [carer.id]
    assert await _sync_over_http(clocked, carer, 3) == [carer.id], "until a clean sync is done"


async def test_an_http_only_sdk_device_clean_syncs_on_demand_and_the_demand_clears(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = Device(
        clocked.ws_url,
        carer.device_token,
        carer.device_uuid,
        tmp_path / "h.db",
        transport="http",
        auto_sync_interval_s=0.1,
        backoff=Backoff(0.05, 0.2),
    )
    device.store.ensure_feed(carer.id, 1, carer.name)
    await device.start()
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        device.store._db.execute("DELETE FROM visits")  # a copy gone wrong: the office asks for a clean one
        await _demand(clocked, agency, carer)
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        await eventually(lambda: _not(_demanded(clocked.node, carer)))
        assert await _sync_over_http(clocked, carer, 3) == []
    finally:
        await device.stop()


async def _not(value: object) -> bool:
    return not await value  # type: ignore[misc]


async def _welcome(running: RunningServer, carer: SeededCarer, seq: int) -> Welcome:
    raw = await RawDevice.connect(running)
    try:
        return await raw.hello(carer, [FeedPosition(feed=carer.id, epoch=1, seq=seq)])
    finally:
        await raw.close()


def _cached(node: Node, carer: SeededCarer) -> DeviceIdentity | None:
    entry = node.effects.identities.get(hash_token(carer.device_token), node.clock.now_ms())
    return None if entry is None else entry.identity


async def test_a_device_reconnecting_right_after_a_demand_is_told_in_its_welcome(
    clocked: RunningServer, agency: SeededAgency
) -> None:
    node = clocked.node
    carer = agency.carers[0]
    assert [f.action for f in (await _welcome(clocked, carer, 3)).feeds] == ["resume"]
    await eventually(lambda: node.hub.session_count == 0)
    await eventually(lambda: _cached(node, carer) is not None)  # held: the next greeting reads no store
    await node.effects.stop()  # no poll of the effects: only the bus can tell this node
    try:
        await _demand(clocked, agency, carer)
        assert [f.action for f in (await _welcome(clocked, carer, 3)).feeds] == ["clean_sync"]
    finally:
        node.effects.start()


@pytest.fixture
async def cluster(postgres_url: str, redis_server_url: str) -> AsyncIterator[tuple[Node, Node]]:
    """Two nodes sharing PostgreSQL and Redis, neither polling the effects (the bus alone)."""
    nodes = [
        Node.build(Settings(database_url=postgres_url, redis_url=redis_server_url, node_id=f"demand-{n}")) for n in "ab"
    ]
    for node in nodes:
        await node.start()
        await node.effects.stop()
    try:
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await node.stop()


async def test_every_node_forgets_a_cached_identity_when_a_demand_is_made_on_another(
    cluster: tuple[Node, Node],
) -> None:
    office_node, other = cluster
    agency = await seed_agency(office_node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    token_hash = hash_token(carer.device_token)
    async with other.db.read() as conn:
        identity = await authenticate_device(conn, carer.device_token)
    identities = other.effects.identities
    identities.vouch(other.clock.now_ms() + 60_000)
    identities.store(token_hash, identity, other.clock.now_ms(), identities.generation)
    assert _cached(other, carer) is not None
    await office_node.devices.demand_resync(agency.tenant_id, carer.device_id)
    await eventually(lambda: _cached(other, carer) is None)
