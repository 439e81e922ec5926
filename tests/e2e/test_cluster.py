"""Several ``caresync serve`` nodes sharing PostgreSQL and Redis, with SDK devices."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol import PROTOCOL_VERSION
from protocol.codec import encode
from protocol.errors import CloseCode
from protocol.frames import Change, Hello
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.settings import Settings
from server.store.schema import alert_audit, feed_entries, mismatch_alerts, tenants
from tests.backing import ThrowawayRedis, require_or_skip
from tests.cluster import ServeProcess
from tests.support import eventually, server_visits

pytestmark = pytest.mark.e2e


async def _seed(database_url: str, carers: int) -> tuple[Node, SeededAgency]:
    node = Node.build(Settings(database_url=database_url))
    await node.db.migrate()
    return node, await seed_agency(node, carers=carers, visits_per_carer=2)


class Phone:
    """An SDK device that also records every change it applied, to catch doubles."""

    def __init__(self, carer: SeededCarer, urls: list[str], tmp_path: Path) -> None:
        self.carer = carer
        self.applied: list[int] = []
        self.device = Device(
            urls, carer.device_token, carer.device_uuid, tmp_path / f"{carer.device_uuid}.db",
            backoff=Backoff(base_s=0.05, cap_s=0.5),
        )  # fmt: skip
        self.device.on_change(self._applied)

    def _applied(self, change: Change) -> None:
        self.applied.append(change.seq)

    def applied_once_in_order(self) -> bool:
        return self.applied == list(range(1, len(self.applied) + 1))


async def _converged(phone: Phone, node: Node, agency: SeededAgency) -> bool:
    return phone.device.visits(phone.carer.id) == await server_visits(node, agency.admin, phone.carer.id)


@pytest.fixture
async def nodes(postgres_url: str, redis_server_url: str, tmp_path: Path) -> AsyncIterator[list[ServeProcess]]:
    started = [ServeProcess(postgres_url, redis_server_url, name, tmp_path) for name in ("node-a", "node-b")]
    try:
        for node in started:
            await node.start()
        yield started
    finally:
        for node in started:
            node.stop()


async def _reschedule(http: httpx.AsyncClient, visit_id: str, minutes: int) -> None:
    current = (await http.get(f"/api/v1/visits/{visit_id}")).json()
    starts = datetime.fromisoformat(current["starts_at"]) + timedelta(minutes=minutes)
    response = await http.post(
        f"/api/v1/visits/{visit_id}/reschedule",
        json={"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=30)).isoformat()},
    )
    assert response.status_code == 200, response.text


async def test_change_on_node_b_reaches_device_on_node_a_and_survives_sigkill(
    postgres_url: str, redis_server_url: str, tmp_path: Path
) -> None:
    seeder, agency = await _seed(postgres_url, carers=1)
    node_a = ServeProcess(postgres_url, redis_server_url, "node-a", tmp_path)
    node_b = ServeProcess(postgres_url, redis_server_url, "node-b", tmp_path)
    await node_a.start()
    await node_b.start()
    phone = Phone(agency.carers[0], [node_a.ws_url, node_b.ws_url], tmp_path)
    carer = agency.carers[0]
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    try:
        await phone.device.start()
        await eventually(lambda: len(phone.applied) == 2)
        async with httpx.AsyncClient(base_url=node_b.base_url, headers=headers) as via_b:
            await _reschedule(via_b, carer.visit_ids[0], 15)
            await eventually(lambda: 3 in phone.applied)

            node_a.kill()
            for i in range(5):
                await _reschedule(via_b, carer.visit_ids[i % 2], 5)
            await eventually(lambda: len(phone.applied) == 8, timeout=15)
        assert phone.device.connected.is_set()
        assert phone.applied_once_in_order()
        assert await _converged(phone, seeder, agency)
    finally:
        await phone.device.stop()
        node_a.stop()
        node_b.stop()
        await seeder.db.close()


async def test_concurrent_changes_through_both_nodes_keep_feeds_gap_free(
    nodes: list[ServeProcess], postgres_url: str, tmp_path: Path
) -> None:
    seeder, agency = await _seed(postgres_url, carers=3)
    phones = [Phone(c, [nodes[i % 2].ws_url], tmp_path) for i, c in enumerate(agency.carers)]
    visits = [v for c in agency.carers for v in c.visit_ids]
    carer_ids = [c.id for c in agency.carers]
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    rng = random.Random(7)
    try:
        for phone in phones:
            await phone.device.start()
        clients = [httpx.AsyncClient(base_url=n.base_url, headers=headers, timeout=30) for n in nodes]

        async def change(i: int) -> None:
            http = clients[i % 2]
            visit_id = rng.choice(visits)
            if i % 3 == 0:
                chosen = rng.sample(carer_ids, rng.choice([1, 2]))
                response = await http.post(f"/api/v1/visits/{visit_id}/reassign", json={"carer_ids": chosen})
            else:
                response = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": f"change {i}"})
            assert response.status_code == 200, response.text

        await asyncio.gather(*(change(i) for i in range(60)))
        for http in clients:
            await http.aclose()
        async with seeder.db.read() as conn:
            for carer_id in carer_ids:
                seqs = [
                    r.seq
                    for r in await conn.execute(
                        select(feed_entries.c.seq)
                        .where(feed_entries.c.carer_id == carer_id)
                        .order_by(feed_entries.c.seq)
                    )
                ]
                assert seqs == list(range(1, len(seqs) + 1)), f"feed {carer_id} has a gap or a duplicate"
        for phone in phones:
            await eventually(lambda phone=phone: _converged(phone, seeder, agency), timeout=15)  # type: ignore[misc]
            assert phone.applied_once_in_order()
    finally:
        for phone in phones:
            await phone.device.stop()
        await seeder.db.close()


async def test_redis_restart_loses_no_change(postgres_url: str, tmp_path: Path) -> None:
    try:
        redis = ThrowawayRedis()
    except FileNotFoundError as exc:
        require_or_skip(str(exc))
        return
    redis.start()
    seeder, agency = await _seed(postgres_url, carers=2)
    cluster = [ServeProcess(postgres_url, redis.url, name, tmp_path) for name in ("node-a", "node-b")]
    phones = [Phone(c, [cluster[0].ws_url], tmp_path) for c in agency.carers]
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    try:
        for node in cluster:
            await node.start()
        for phone in phones:
            await phone.device.start()
        async with httpx.AsyncClient(base_url=cluster[1].base_url, headers=headers) as via_b:
            await _reschedule(via_b, agency.carers[0].visit_ids[0], 10)
            redis.stop()
            for i in range(6):
                carer = agency.carers[i % 2]
                await _reschedule(via_b, carer.visit_ids[i % 2], 3)
            await asyncio.sleep(0.5)
            redis.start()
            for i in range(4):
                carer = agency.carers[i % 2]
                await _reschedule(via_b, carer.visit_ids[(i + 1) % 2], 2)
        for phone in phones:
            await eventually(lambda phone=phone: _converged(phone, seeder, agency), timeout=20)  # type: ignore[misc]
            assert phone.applied_once_in_order()
            assert len(phone.applied) == 2 + (1 if phone.carer is agency.carers[0] else 0) + 3 + 2
    finally:
        for phone in phones:
            await phone.device.stop()
        for node in cluster:
            node.stop()
        redis.stop()
        await seeder.db.close()


async def test_revoking_on_one_node_disconnects_the_socket_on_the_other(
    nodes: list[ServeProcess], postgres_url: str, tmp_path: Path
) -> None:
    seeder, agency = await _seed(postgres_url, carers=1)
    carer = agency.carers[0]
    phone = Phone(carer, [nodes[0].ws_url], tmp_path)
    try:
        await phone.device.start()
        async with httpx.AsyncClient(
            base_url=nodes[1].base_url, headers={"authorization": f"Bearer {agency.admin_token}"}
        ) as via_b:
            assert (await via_b.post(f"/api/v1/devices/{carer.device_id}/revoke")).status_code == 200
        await eventually(lambda: phone.device.stopped_by is not None, timeout=1.0)
        assert phone.device.stopped_by is not None
        assert phone.device.stopped_by.code == CloseCode.DEVICE_REVOKED
        # Nor can it come back through either node.
        for node in nodes:
            async with connect(node.ws_url) as ws:
                await ws.send(
                    encode(
                        Hello(
                            token=carer.device_token,
                            device_uuid=carer.device_uuid,
                            app_version="t",
                            protocol_version=PROTOCOL_VERSION,
                        )
                    ).decode()
                )
                await ws.recv()  # the error frame
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == CloseCode.DEVICE_REVOKED
    finally:
        await phone.device.stop()
        await seeder.db.close()


async def test_two_nodes_raise_one_alert_per_carer(postgres_url: str, redis_server_url: str, tmp_path: Path) -> None:
    seeder, agency = await _seed(postgres_url, carers=2)
    async with seeder.db.write() as conn:
        await conn.execute(update(tenants).values(mismatch_grace_s=1))
    cluster = [
        ServeProcess(postgres_url, redis_server_url, name, tmp_path, mismatch_interval_s=0.2)
        for name in ("node-a", "node-b")
    ]
    try:
        for node in cluster:
            await node.start()

        async def alerts() -> list[tuple[str, str]]:
            async with seeder.db.read() as conn:
                rows = await conn.execute(select(mismatch_alerts.c.carer_id, mismatch_alerts.c.status))
                return sorted((r.carer_id, r.status) for r in rows)

        expected = sorted((c.id, "open") for c in agency.carers)
        await eventually(lambda: _equals(alerts(), expected), timeout=10)
        await asyncio.sleep(1.0)  # several more passes on both nodes
        assert await alerts() == expected
        async with seeder.db.read() as conn:
            raised = (
                await conn.execute(
                    select(func.count()).select_from(alert_audit).where(alert_audit.c.action == "raised")
                )
            ).scalar_one()
        assert raised == 2
    finally:
        for node in cluster:
            node.stop()
        await seeder.db.close()


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]
