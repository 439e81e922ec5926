from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from client_sdk import Device
from protocol.frames import Change
from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.support import acked_seq, eventually, make_device


async def test_visit_change_reaches_device_and_is_acked(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=2)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    seen: list[Change] = []
    device.on_change(seen.append)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 4)
        visit_id = carer.visit_ids[0]
        before = device.store.visit(carer.id, visit_id)
        assert before is not None
        async with running.http(agency.admin_token) as http:
            response = await http.post(
                f"/api/v1/visits/{visit_id}/reschedule",
                json={
                    "starts_at": (before.starts_at + timedelta(minutes=30)).isoformat(),
                    "ends_at": (before.ends_at + timedelta(minutes=30)).isoformat(),
                },
            )
            assert response.status_code == 200, response.text
        await eventually(lambda: device.store.visit(carer.id, visit_id).starts_at != before.starts_at)  # type: ignore[union-attr]
        after = device.store.visit(carer.id, visit_id)
        assert after is not None
        assert after.starts_at == before.starts_at + timedelta(minutes=30)
        head = device.positions()[carer.id].seq
        assert head == 5
        await eventually(lambda: _is_acked(running, carer.device_id, carer.id, head))
    finally:
        await device.stop()


async def _is_acked(running: RunningServer, device_id: str, carer_id: str, seq: int) -> bool:
    return await acked_seq(running.node, device_id, carer_id) == seq


async def test_two_devices_unaffected_by_other_carers(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=2)
    first, second = agency.carers
    d1: Device = await make_device(running, first, tmp_path)
    d2: Device = await make_device(running, second, tmp_path)
    try:
        await eventually(lambda: len(d1.visits()) == 4 and len(d2.visits()) == 4)
        assert {v.id for v in d1.visits()} == set(first.visit_ids)
        assert {v.id for v in d2.visits()} == set(second.visit_ids)
        await asyncio.sleep(0)
    finally:
        await d1.stop()
        await d2.stop()
