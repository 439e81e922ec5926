"""Every position a device reports is an ack: after a crash and on every transport, the
recorded ack converges to what the device holds, and alerts it covers resolve."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from client_sdk import Device
from client_sdk.backoff import Backoff
from server.clock import ManualClock, SystemClock, to_datetime
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings
from server.store.schema import mismatch_alerts
from tests.cluster import ServeProcess
from tests.conftest import RunningServer
from tests.support import acked_seq, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def agency(clocked: RunningServer) -> SeededAgency:
    return await seed_agency(clocked.node, carers=1, visits_per_carer=3, day=to_datetime(clocked.node.clock.now_ms()))


def _clock(running: RunningServer) -> ManualClock:
    clock = running.node.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _alert_statuses(node: Node, carer_id: str) -> list[str]:
    async with node.db.read() as conn:
        rows = await conn.execute(select(mismatch_alerts.c.status).where(mismatch_alerts.c.carer_id == carer_id))
        return [r.status for r in rows]


async def test_acks_lost_in_a_sigkill_are_healed_by_the_next_hello(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=1, visits_per_carer=2, day=to_datetime(seeder.clock.now_ms()))
    carer = agency.carers[0]
    server = ServeProcess(url, None, "solo", tmp_path)
    await server.start()
    device = Device(
        server.ws_url, carer.device_token, carer.device_uuid, tmp_path / "phone.db", backoff=Backoff(0.05, 0.3)
    )
    try:
        await device.start()
        await eventually(lambda: acked_seq(seeder, carer.device_id, carer.id), timeout=10)
        assert await acked_seq(seeder, carer.device_id, carer.id) == 2

        # The server dies the moment the device's next ack leaves: it is never written.
        original_send = device.link._send

        async def send_then_kill(ws, text: str) -> None:  # type: ignore[no-untyped-def]
            await original_send(ws, text)
            if '"type":"ack"' in text:
                device.link._send = original_send  # type: ignore[method-assign]
                server.kill()

        device.link._send = send_then_kill  # type: ignore[method-assign]
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"authorization": f"Bearer {agency.admin_token}"}
        ) as http:
            try:
                reply = await http.patch(f"/api/v1/visits/{carer.visit_ids[0]}", json={"notes": "bring the key"})
            except httpx.RemoteProtocolError:
                pass  # committed and pushed: the device's ack killed the server before the reply left
            else:
                assert reply.status_code == 200, reply.text
        await eventually(lambda: server.process is None, timeout=10)
        position = device.positions()[carer.id]
        assert position.seq == 3
        assert await acked_seq(seeder, carer.device_id, carer.id) == 2, "the ack died with the server"

        # The device was level when its node died, so its grace counts from when a node was
        # back: a node up an hour later raises nothing at once, and is alerted about seq 3
        # once the device has stayed away a grace period longer.
        clock = ManualClock(SystemClock().now_ms() + 3_600_000)
        later = Node.build(Settings(database_url=url), clock=clock)
        await later.presence.register()
        await later.mismatch.run_once()
        assert await _alert_statuses(seeder, carer.id) == []
        clock.advance(121)
        await later.presence.step()
        await later.mismatch.run_once()
        assert await _alert_statuses(seeder, carer.id) == ["open"]
        await later.presence.retire()

        # The device comes back: the position in its hello is the ack that was lost.
        await server.start()
        await eventually(lambda: device.connected.is_set(), timeout=10)
        await eventually(lambda: _equals(acked_seq(seeder, carer.device_id, carer.id), 3), timeout=10)
        await eventually(lambda: _equals(_alert_statuses(seeder, carer.id), ["resolved"]), timeout=10)
        await later.db.close()
    finally:
        await device.stop()
        server.stop()
        await seeder.db.close()


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_http_only_device_level_with_the_head_is_acked_and_not_alerted(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "h.db", transport="http")
    device.store.ensure_feed(carer.id, 1, carer.name)
    try:
        await device.sync()
        await device.sync()  # the carer syncs again: the position it reports is level with the head
        position = device.positions()[carer.id]
        assert position.seq == 3
        await clocked.node.activity.flush()
        assert await acked_seq(clocked.node, carer.device_id, carer.id) == position.seq
        _clock(clocked).advance(3_600)
        report = await clocked.node.mismatch.run_once()
        assert report.raised == 0
        assert await _alert_statuses(clocked.node, carer.id) == []
    finally:
        await device.stop()


async def test_finished_clean_sync_is_counted_as_the_ack(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    # An app that never sends ack frames: only the positions it reports can prove anything.
    device = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "c.db", ack=False)
    await device.start()
    try:
        await eventually(lambda: device.positions()[carer.id].seq == 3)
        done = await device.clean_sync([carer.id], force=True)
        assert done[carer.id].seq == 3
        await clocked.node.activity.flush()
        assert await acked_seq(clocked.node, carer.device_id, carer.id) == 3
    finally:
        with contextlib.suppress(Exception):
            await device.stop()


async def test_reports_ahead_of_the_head_or_in_another_epoch_record_nothing(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    # No ack calls: only the positions in the sync requests report anything here.
    device = Device(
        clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "x.db", transport="http", ack=False
    )
    device.store.ensure_feed(carer.id, 1, carer.name)
    try:
        await device.sync()
        await clocked.node.activity.flush()
        assert await acked_seq(clocked.node, carer.device_id, carer.id) is None, "seq 0 proves nothing"
        await device.sync()
        await clocked.node.activity.flush()
        assert await acked_seq(clocked.node, carer.device_id, carer.id) == 3
        for epoch, seq in ((1, 9), (2, 1), (1, 1)):
            body = {
                "type": "sync_request",
                "request_id": f"r{epoch}{seq}",
                "positions": [{"feed": carer.id, "epoch": epoch, "seq": seq}],
            }
            async with clocked.http(carer.device_token) as http:
                assert (await http.post("/api/v1/device/sync", json=body)).status_code == 200
        await clocked.node.activity.flush()
        assert await acked_seq(clocked.node, carer.device_id, carer.id) == 3, "never ahead, other epoch, or back"
    finally:
        await device.stop()
