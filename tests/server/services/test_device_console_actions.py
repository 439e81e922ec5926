"""Device actions from the console: recorded in the device audit with who did them, and a
reactivated phone connects again with its token."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from protocol.errors import CloseCode
from server.seeding import seed_agency
from server.services import device_audit
from server.store.schema import users
from tests.conftest import RunningServer
from tests.support import eventually, make_device


async def test_deactivate_closes_the_phone_reactivate_lets_it_back_and_both_are_audited(
    running: RunningServer, tmp_path: Path
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    actor = agency.admin.user_id
    phone = await make_device(running, carer, tmp_path)
    try:
        await node.devices.deactivate(agency.tenant_id, carer.device_id, actor)
        await eventually(lambda: phone.stopped_by is not None)
        assert phone.stopped_by is not None and phone.stopped_by.code == CloseCode.DEVICE_REVOKED
    finally:
        await phone.stop()
    await node.devices.reactivate(agency.tenant_id, carer.device_id, actor)
    again = await make_device(running, carer, tmp_path)
    try:
        await again.wait_connected()
    finally:
        await again.stop()
    await node.devices.rename(agency.tenant_id, carer.device_id, "Amara's work phone", actor)
    async with node.db.read() as conn:
        entries = await device_audit.recent(conn, agency.tenant_id, [carer.device_id])
    assert sorted(e.action for e in entries) == ["deactivated", "reactivated", "renamed"]
    renamed = next(e for e in entries if e.action == "renamed")
    assert renamed.detail == "Amara 1's phone → Amara's work phone"
    async with node.db.read() as conn:
        admin_name = (await conn.execute(select(users.c.name).where(users.c.id == actor))).scalar_one()
    assert {e.actor_name for e in entries} == {admin_name}
