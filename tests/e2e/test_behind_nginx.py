"""The shipped nginx config in front of two nodes on PostgreSQL and Redis.

A coordinator signs into the console through nginx in Chromium (the same-origin checks
need the port nginx was reached on in ``Host``), the live feed connects through it, and a
device connected through nginx receives a change made through the node that does not
hold its socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol.frames import Change
from server.node import Node
from server.seeding import seed_agency
from server.settings import Settings
from tests.cluster import ServeProcess
from tests.e2e.browser import chromium, sign_in
from tests.e2e.nginx import Nginx
from tests.support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@pytest.fixture
async def cluster(postgres_url: str, redis_server_url: str, tmp_path: Path) -> AsyncIterator[list[ServeProcess]]:
    nodes = [ServeProcess(postgres_url, redis_server_url, name, tmp_path) for name in ("node-a", "node-b")]
    try:
        for node in nodes:
            await node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def balancer(cluster: list[ServeProcess], tmp_path: Path) -> Iterator[Nginx]:
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    nginx = Nginx([node.port for node in cluster], workdir)
    nginx.start()
    yield nginx
    nginx.stop()


async def _holder(cluster: list[ServeProcess]) -> ServeProcess:
    """The node that holds the one device socket."""
    async with httpx.AsyncClient() as http:
        for node in cluster:
            if (await http.get(f"{node.base_url}/healthz")).json()["sessions"] == 1:
                return node
    raise AssertionError("no node holds the device")


async def test_console_sign_in_and_a_change_across_nodes_through_nginx(
    cluster: list[ServeProcess], balancer: Nginx, postgres_url: str, tmp_path: Path
) -> None:
    seeder = Node.build(Settings(database_url=postgres_url))
    agency = await seed_agency(seeder, carers=1, visits_per_carer=2)
    carer = agency.carers[0]
    coordinator = await seeder.directory.create_user(agency.tenant_id, agency.branch_id, "Cora", "coordinator")
    await seeder.staff_auth.set_password(agency.tenant_id, coordinator, "cora@example.org", PASSWORD)

    received: list[Change] = []
    device = Device(
        balancer.ws_url,
        carer.device_token,
        carer.device_uuid,
        tmp_path / "phone.db",
        backoff=Backoff(base_s=0.05, cap_s=0.5),
    )
    device.on_change(received.append)
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            await sign_in(page, balancer.base_url, "cora@example.org", PASSWORD)
            await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)

        await device.start()
        await eventually(lambda: len(received) == 2)
        holder = await _holder(cluster)
        other = next(node for node in cluster if node is not holder)
        visit_id = carer.visit_ids[0]
        headers = {"authorization": f"Bearer {agency.admin_token}"}
        async with httpx.AsyncClient(base_url=other.base_url, headers=headers) as via_other:
            current = (await via_other.get(f"/api/v1/visits/{visit_id}")).json()
            starts = datetime.fromisoformat(current["starts_at"]) + timedelta(minutes=20)
            response = await via_other.post(
                f"/api/v1/visits/{visit_id}/reschedule",
                json={"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=30)).isoformat()},
            )
            assert response.status_code == 200, response.text
        await eventually(lambda: [change.seq for change in received] == [1, 2, 3], timeout=15)

        async with httpx.AsyncClient(base_url=balancer.base_url) as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.headers["x-request-id"]
    finally:
        await device.stop()
        await seeder.db.close()
