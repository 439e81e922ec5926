"""A node cut off from its database or Redis, for longer than the dead-node timeout, stays
in its cluster: two ``caresync serve`` nodes on PostgreSQL and Redis, each reaching them
through relays the test cuts (the shared servers are never touched).

A node alone cut off from the database is removed as dead by the other, as it should be,
and joins again when the database is back, with the sockets it kept up meanwhile. When
every node is cut off (a PostgreSQL restart or failover), no node removes another, nor
itself, on the old rows it finds when the database comes back. Either way, every node ends
present and every socket, held through the outage or opened after it, counts as connected
in the device report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from server.cluster.presence import MISSED_TOUCHES
from server.node import Node
from server.periodic import MAX_BACKOFF_S
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.settings import Settings
from server.store.schema import device_connections, nodes
from tests.cluster import ServeProcess
from tests.support import RawDevice, eventually
from tests.tcp_relay import CuttableRelay

pytestmark = pytest.mark.e2e

PRESENCE_INTERVAL_S = 0.5
"""``--presence-interval`` of both nodes: a node silent for 1.5 s counts as dead."""
DEAD_AFTER_S = PRESENCE_INTERVAL_S * MISSED_TOUCHES
OUTAGE_S = DEAD_AFTER_S * 4
"""How long an outage of every node lasts: well past the dead-node timeout."""
BACK_WITHIN_S = MAX_BACKOFF_S + 15
"""A node retries its writes at most ``MAX_BACKOFF_S`` apart; a bounded wait beyond that."""


@dataclass
class ClusterNode:
    process: ServeProcess
    database: CuttableRelay
    redis: CuttableRelay

    @property
    def node_id(self) -> str:
        return self.process.node_id

    def log(self) -> str:
        return self.process.log_path.read_text()


@dataclass
class Cluster:
    seeder: Node
    agency: SeededAgency
    nodes: list[ClusterNode]

    async def present(self) -> set[str]:
        async with self.seeder.db.read() as conn:
            return {r.id for r in await conn.execute(select(nodes.c.id))}

    async def connections(self) -> dict[str, str]:
        async with self.seeder.db.read() as conn:
            rows = await conn.execute(select(device_connections.c.device_id, device_connections.c.node_id))
            return {r.device_id: r.node_id for r in rows}

    async def connected_now(self, via: ClusterNode) -> dict[str, bool]:
        """The device report's ``connected_now`` per device, asked of ``via``."""
        headers = {"authorization": f"Bearer {self.agency.admin_token}"}
        async with httpx.AsyncClient(base_url=via.process.base_url, headers=headers, timeout=10) as http:
            response = await http.get("/api/v1/reports/devices")
        assert response.status_code == 200, response.text
        return {row["device_id"]: row["connected_now"] for row in response.json()["devices"]}

    async def settled(self, held: dict[str, ClusterNode]) -> bool:
        """Every node present, and exactly the sockets ``held`` (device -> node) counted,
        in the store and in the report of every node."""
        if await self.present() != {n.node_id for n in self.nodes}:
            return False
        if await self.connections() != {device: n.node_id for device, n in held.items()}:
            return False
        for via in self.nodes:
            report = await self.connected_now(via)
            if {device for device, up in report.items() if up} != set(held):
                return False
        return True


@pytest.fixture
async def cluster(
    postgres_url: str, redis_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    monkeypatch.setenv("CARESYNC_PRESENCE_INTERVAL", str(PRESENCE_INTERVAL_S))
    seeder = Node.build(Settings(database_url=postgres_url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=4, visits_per_carer=1)
    started: list[ClusterNode] = []
    try:
        for name in ("node-a", "node-b"):
            database, redis = CuttableRelay.to_url(postgres_url), CuttableRelay.to_url(redis_server_url)
            await database.start()
            await redis.start()
            process = ServeProcess(
                database.through(postgres_url), redis.through(redis_server_url), name, tmp_path, heartbeat_s=5
            )
            started.append(ClusterNode(process, database, redis))
            await process.start()
        yield Cluster(seeder, agency, started)
    finally:
        # Stopped off the event loop: the nodes write their way out through the relays it runs.
        await asyncio.gather(*(asyncio.to_thread(member.process.stop) for member in started))
        for member in started:
            await member.database.close()
            await member.redis.close()
        await seeder.db.close()


async def _hold(member: ClusterNode, carer: SeededCarer) -> RawDevice:
    """A device socket on ``member``, greeted; it never reconnects, so one that survives is
    the same socket throughout."""
    device = RawDevice(await connect(member.process.ws_url, max_size=4 * 1024 * 1024))
    await device.hello(carer)
    return device


async def test_a_node_cut_off_from_the_database_past_the_timeout_rejoins_with_its_sockets(cluster: Cluster) -> None:
    a, b = cluster.nodes
    carers = cluster.agency.carers
    on_a, on_b = await _hold(a, carers[0]), await _hold(b, carers[1])
    held = {carers[0].device_id: a, carers[1].device_id: b}
    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)

    a.database.cut()
    # node-b, which can write, removes node-a once it has been silent past the timeout.
    await eventually(lambda: _absent(cluster, a), timeout=BACK_WITHIN_S)
    await asyncio.sleep(DEAD_AFTER_S)
    a.database.restore()

    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)
    after = await _hold(a, carers[2])
    held[carers[2].device_id] = a
    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)
    assert on_a.ws.close_code is None and on_b.ws.close_code is None
    assert "joined the cluster again" in a.log()
    assert "dead node" not in a.log(), "node-a, which could not write, judged node-b on stale evidence"
    for device in (on_a, on_b, after):
        await device.close()


async def _absent(cluster: Cluster, member: ClusterNode) -> bool:
    return member.node_id not in await cluster.present()


OUTAGES = {
    "database": (["database"], ["database"]),
    "database and redis, database back first": (["database", "redis"], ["database", "redis"]),
    "redis and database, redis back first": (["redis", "database"], ["redis", "database"]),
}


@pytest.mark.parametrize("outage", list(OUTAGES))
async def test_every_node_cut_off_past_the_timeout_ends_present_with_every_socket_counted(
    cluster: Cluster, outage: str
) -> None:
    cuts, restores = OUTAGES[outage]
    a, b = cluster.nodes
    carers = cluster.agency.carers
    during = [await _hold(a, carers[0]), await _hold(b, carers[1])]
    held = {carers[0].device_id: a, carers[1].device_id: b}
    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)

    for service in cuts:
        for member in cluster.nodes:
            getattr(member, service).cut()
    await asyncio.sleep(OUTAGE_S)
    for service in restores:
        for member in cluster.nodes:
            getattr(member, service).restore()
        await asyncio.sleep(PRESENCE_INTERVAL_S)

    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)
    after = [await _hold(a, carers[2]), await _hold(b, carers[3])]
    held.update({carers[2].device_id: a, carers[3].device_id: b})
    await eventually(lambda: cluster.settled(held), timeout=BACK_WITHIN_S)
    assert all(device.ws.close_code is None for device in during), "sockets were cut, not kept up"
    for member in cluster.nodes:
        assert "dead node" not in member.log(), f"{member.node_id} removed a node on the rows the outage left old"
    for device in during + after:
        await device.close()
