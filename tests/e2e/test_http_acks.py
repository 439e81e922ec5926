"""An HTTP-only device acknowledges what it applied (docs/protocol.md, section 8): after a
sync, paged or not, the office sees the device level with the head and raises no alert;
``POST /api/v1/device/ack`` follows the socket's rules for an ``ack``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Device
from server.clock import ManualClock, to_datetime
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.services.rota import NewTask
from tests.conftest import RunningServer
from tests.support import acked_seq

pytestmark = pytest.mark.e2e

GRACE_S = 120


@pytest.fixture
async def agency(clocked: RunningServer) -> SeededAgency:
    return await seed_agency(clocked.node, carers=1, visits_per_carer=3, day=to_datetime(clocked.node.clock.now_ms()))


def _clock(running: RunningServer) -> ManualClock:
    clock = running.node.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _new_visits(running: RunningServer, agency: SeededAgency, carer: SeededCarer, count: int) -> None:
    start = to_datetime(running.node.clock.now_ms()) + timedelta(hours=3)
    for i in range(count):
        moment = start + timedelta(hours=i)
        await running.node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=moment,
            ends_at=moment + timedelta(minutes=45),
            carer_ids=[carer.id],
            tasks_=[NewTask("Medication")],
        )


async def _report_feed(running: RunningServer, agency: SeededAgency, carer: SeededCarer) -> dict[str, Any]:
    async with running.http(agency.admin_token) as http:
        rows = (await http.get("/api/v1/reports/devices")).json()["devices"]
    (row,) = [r for r in rows if r["device_id"] == carer.device_id]
    (feed,) = row["feeds"]
    assert isinstance(feed, dict)
    return {**feed, "in_sync": row["in_sync"], "sync_lag_changes": row["sync_lag_changes"]}


async def _alerts_after_grace(running: RunningServer) -> int:
    _clock(running).advance(GRACE_S + 30)
    await running.node.presence.step()
    await running.node.activity.flush()
    return (await running.node.mismatch.run_once()).raised


async def test_http_only_carer_holding_every_change_raises_no_alert(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "h.db", transport="http")
    device.store.ensure_feed(carer.id, 1, carer.name)
    try:
        await _new_visits(clocked, agency, carer, 4)
        await device.sync(page_size=2)  # seven changes in four pages
        assert device.positions()[carer.id].seq == 7
        await clocked.node.activity.flush()
        feed = await _report_feed(clocked, agency, carer)
        assert (feed["acked"], feed["head"], feed["in_sync"], feed["sync_lag_changes"]) == (7, 7, True, 0)
        assert await _alerts_after_grace(clocked) == 0

        await _new_visits(clocked, agency, carer, 2)  # the office changes more; the carer syncs in time
        await device.sync()
        await clocked.node.activity.flush()
        feed = await _report_feed(clocked, agency, carer)
        assert (feed["acked"], feed["head"], feed["in_sync"]) == (9, 9, True)
        assert await _alerts_after_grace(clocked) == 0
    finally:
        await device.stop()


async def test_http_ack_follows_the_socket_rules_and_is_idempotent(
    clocked: RunningServer, agency: SeededAgency
) -> None:
    carer = agency.carers[0]

    async def ack(epoch: int, seq: int, feed: str = carer.id) -> tuple[int, str | None]:
        async with clocked.http(carer.device_token) as http:
            reply = await http.post(
                "/api/v1/device/ack", json={"type": "ack", "feed": feed, "epoch": epoch, "seq": seq}
            )
        return reply.status_code, reply.json()["error"]["code"] if reply.content else None

    async def recorded() -> int | None:
        await clocked.node.activity.flush()
        return await acked_seq(clocked.node, carer.device_id, carer.id)

    assert await ack(1, 2) == (204, None)
    assert await recorded() == 2
    assert await ack(1, 2) == (204, None), "sent again: the same answer"
    assert await ack(1, 1) == (204, None), "an older ack is accepted but moves nothing back"
    assert await recorded() == 2
    assert await ack(1, 4) == (422, "position_ahead")
    assert await ack(2, 1) == (422, "stale_epoch")
    assert await ack(1, 1, feed="not-my-feed") == (422, "unknown_feed")
    assert await recorded() == 2, "a refused ack records nothing"
    assert await ack(1, 3) == (204, None)
    assert await recorded() == 3
    async with clocked.http(carer.device_token) as http:
        malformed = await http.post("/api/v1/device/ack", json={"type": "ack", "feed": carer.id, "seq": -1})
        assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "invalid_frame")
    async with clocked.http("not-a-token") as http:
        stranger = await http.post("/api/v1/device/ack", json={"type": "ack", "feed": carer.id, "epoch": 1, "seq": 3})
        assert stranger.status_code == 401
