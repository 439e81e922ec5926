"""Rota changes made through the REST API, observed on real SDK devices over sockets."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.support import device_matches_server, eventually, make_device, server_visits


async def test_reassigned_visit_moves_between_devices(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=2)
    old, new = agency.carers
    old_device = await make_device(running, old, tmp_path)
    new_device = await make_device(running, new, tmp_path)
    try:
        await eventually(lambda: len(old_device.visits()) == 4 and len(new_device.visits()) == 4)
        moved = old.visit_ids[1]
        async with running.http(agency.admin_token) as http:
            response = await http.post(f"/api/v1/visits/{moved}/reassign", json={"carer_ids": [new.id]})
        assert response.status_code == 200, response.text
        await eventually(lambda: old_device.store.visit(old.id, moved) is None)
        await eventually(lambda: new_device.store.visit(new.id, moved) is not None)
        assert moved not in {v.id for v in old_device.visits()}
        assert new_device.store.visit(new.id, moved).carer_ids == [new.id]  # type: ignore[union-attr]
        await eventually(lambda: device_matches_server(old_device, running.node, agency.admin, old.id))
        await eventually(lambda: device_matches_server(new_device, running.node, agency.admin, new.id))
    finally:
        await old_device.stop()
        await new_device.stop()


async def test_double_up_visit_reaches_both_carers(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=2, visits_per_carer=1)
    first, second = agency.carers
    devices = [await make_device(running, c, tmp_path) for c in (first, second)]
    try:
        visit = first.visit_ids[0]
        async with running.http(agency.admin_token) as http:
            response = await http.post(f"/api/v1/visits/{visit}/reassign", json={"carer_ids": [first.id, second.id]})
        assert response.status_code == 200, response.text
        await eventually(lambda: devices[1].store.visit(second.id, visit) is not None)
        await eventually(lambda: len(devices[0].store.visit(first.id, visit).carer_ids) == 2)  # type: ignore[union-attr]
    finally:
        for device in devices:
            await device.stop()


async def test_offline_device_catches_up_twenty_changes(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    await eventually(lambda: len(device.visits()) == 4)
    await device.stop()
    async with running.http(agency.admin_token) as http:
        for i in range(20):
            visit_id = carer.visit_ids[i % 4]
            if i % 5 == 4:
                response = await http.post(f"/api/v1/visits/{visit_id}/tasks", json={"title": f"Extra task {i}"})
            elif i % 7 == 6:
                response = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": f"Key safe code changed {i}"})
            else:
                current = (await http.get(f"/api/v1/visits/{visit_id}")).json()
                response = await http.post(
                    f"/api/v1/visits/{visit_id}/reschedule",
                    json={"starts_at": _shift(current["starts_at"], i), "ends_at": _shift(current["ends_at"], i)},
                )
            assert response.status_code in (200, 201), response.text
        cancelled = await http.post(f"/api/v1/visits/{carer.visit_ids[3]}/cancel")
        assert cancelled.status_code == 200
    back = await make_device(running, carer, tmp_path)
    try:
        await eventually(lambda: back.positions()[carer.id].seq == 4 + 21)
        assert back.visits(carer.id) == await server_visits(running.node, agency.admin, carer.id)
        assert back.store.visit(carer.id, carer.visit_ids[3]).status == "cancelled"  # type: ignore[union-attr]
    finally:
        await back.stop()


def _shift(iso: str, minutes: int) -> str:
    return (datetime.fromisoformat(iso) + timedelta(minutes=minutes + 1)).isoformat()


async def test_device_never_sees_another_tenants_data(running: RunningServer, tmp_path: Path) -> None:
    tenant_a = await seed_agency(running.node, name="Agency A", carers=1)
    tenant_b = await seed_agency(running.node, name="Agency B", carers=1)
    device_a = await make_device(running, tenant_a.carers[0], tmp_path)
    try:
        await eventually(lambda: len(device_a.visits()) == 4)
        async with running.http(tenant_b.admin_token) as http:
            for visit_id in tenant_b.carers[0].visit_ids:
                assert (await http.post(f"/api/v1/visits/{visit_id}/cancel")).status_code == 200
            # Tenant B's admin cannot touch tenant A's visits: they do not exist for B.
            foreign = await http.post(f"/api/v1/visits/{tenant_a.carers[0].visit_ids[0]}/cancel")
            assert foreign.status_code == 404
            assert foreign.json()["error"]["code"] == "not_found"
            # Nor assign tenant A's carer to a tenant B visit.
            stolen = await http.post(
                f"/api/v1/visits/{tenant_b.carers[0].visit_ids[0]}/reassign",
                json={"carer_ids": [tenant_a.carers[0].id]},
            )
            assert stolen.status_code == 422
        await running.node.hub.beat()
        await eventually(lambda: device_a.welcome is not None)
        tenant_b_ids = set(tenant_b.carers[0].visit_ids)
        assert not tenant_b_ids & {v.id for v in device_a.visits()}
        assert set(device_a.positions()) == {tenant_a.carers[0].id}
        assert all(v.status == "scheduled" for v in device_a.visits())
    finally:
        await device_a.stop()
