"""What a draining node shows the load balancer, as README and docs/operations.md say:
new connections (probes included) are refused at once, a probe on a connection kept alive
from before answers ``/readyz`` 503 ``draining``, and sockets are closed with 4000 and a
suggested reconnect delay."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from client_sdk import Device
from client_sdk.backoff import Backoff
from server.clock import to_datetime
from server.node import Node
from server.seeding import seed_agency
from server.settings import Settings
from tests.cluster import ServeProcess
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_a_draining_node_refuses_new_connections_and_answers_503_on_kept_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=3, visits_per_carer=1, day=to_datetime(seeder.clock.now_ms()))
    server = ServeProcess(url, None, "solo", tmp_path)
    server.extra_args += ["--drain-window", "6"]  # three sockets: closed about 2 s apart
    phones = [
        Device(server.ws_url, c.device_token, c.device_uuid, tmp_path / f"{c.id}.db", backoff=Backoff(30, 30))
        for c in agency.carers
    ]
    try:
        await server.start()
        for phone in phones:
            await phone.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as kept:
            assert (await kept.get("/readyz")).status_code == 200
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)

            async def refused() -> bool:
                try:
                    async with httpx.AsyncClient(base_url=server.base_url, timeout=1) as fresh:
                        await fresh.get("/readyz")
                except httpx.ConnectError:
                    return True
                return False

            await eventually(refused, timeout=5)
            answer = await kept.get("/readyz")
            assert answer.status_code == 503
            assert "draining" in answer.json()["failing"]["node"]
        await eventually(lambda: all(phone.link.drops for phone in phones), timeout=15)
        assert [phone.stopped_by for phone in phones] == [None, None, None], "4000 is a reconnect code"
    finally:
        for phone in phones:
            await phone.stop()
        server.stop()
        await seeder.db.close()
