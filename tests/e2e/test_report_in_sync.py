"""A phone that is connected and has acknowledged every change is in sync, whether or not
it ever ran a standard sync; the report keeps what it last did visible."""

from __future__ import annotations

from pathlib import Path

from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.support import acked_seq, eventually, make_device


async def _row(running: RunningServer, token: str, device_id: str) -> dict[str, object]:
    async with running.http(token) as http:
        response = await http.get("/api/v1/reports/devices")
    assert response.status_code == 200, response.text
    rows = {r["device_id"]: r for r in response.json()["devices"]}
    row: dict[str, object] = rows[device_id]
    return row


async def test_a_connected_phone_that_acknowledged_its_heads_is_in_sync(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    try:
        await eventually(lambda: device.positions()[carer.id].seq == 4)
        head = device.positions()[carer.id].seq

        async def acked() -> bool:
            await running.node.activity.flush()
            return await acked_seq(running.node, carer.device_id, carer.id) == head

        await eventually(acked)
        row = await _row(running, agency.admin_token, carer.device_id)
        assert row["in_sync"] is True
        assert row["last_successful_sync_at"] is not None, row
        assert row["stale"] is False, row
        assert row["last_standard_sync_at"] is None  # what it last did stays visible
        assert row["last_ack_at"] is not None
    finally:
        await device.stop()

    # Disconnected but level: in sync as of its last acknowledgement. The server learns of
    # the close asynchronously, so wait for the report to show it.
    async def disconnected() -> bool:
        return (await _row(running, agency.admin_token, carer.device_id))["connected_now"] is False

    await eventually(disconnected)
    row = await _row(running, agency.admin_token, carer.device_id)
    assert row["in_sync"] is True
    assert row["last_successful_sync_at"] == row["last_ack_at"]


async def test_a_phone_behind_its_feed_is_not_in_sync(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    row = await _row(running, agency.admin_token, carer.device_id)
    assert row["in_sync"] is False
    assert row["last_successful_sync_at"] is None and row["stale"] is True
