"""The device report's last successful sync, stale flag, state and branch rules, on each store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from server.clock import ManualClock, SystemClock, to_datetime
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.device_report import DeviceReport, ReportQuery, ReportRow
from server.services.identity import Staff
from server.services.rota import NewTask
from server.store.schema import device_users, devices
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def clocked_node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    built = Node.build(settings_for(tmp_path, database_url=database_url), clock=ManualClock(SystemClock().now_ms()))
    await built.start()
    await built.activity.stop()  # the test flushes acknowledgements itself
    yield built
    await built.stop()


def _clock(node: Node) -> ManualClock:
    assert isinstance(node.clock, ManualClock)
    return node.clock


async def _row(node: Node, agency: SeededAgency, device_id: str, staff: Staff | None = None) -> ReportRow:
    page = await DeviceReport(node.db, node.clock).build(staff or agency.admin, ReportQuery(page_size=None))
    return next(r for r in page.rows if r.device_id == device_id)


async def _visit(node: Node, agency: SeededAgency, carer_id: str, hours: int) -> None:
    start = to_datetime(node.clock.now_ms()) + timedelta(hours=hours)
    await node.rota.create_visit(
        agency.admin,
        client_id=agency.client_ids[0],
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        carer_ids=[carer_id],
        tasks_=[NewTask("Lunch")],
    )


async def test_a_phone_level_at_its_last_ack_is_not_stale_when_newer_changes_wait(clocked_node: Node) -> None:
    """Acknowledged 7 of 7 at 04:01; two changes later, at 04:12, the report says 04:01."""
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=7, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    row = await _row(node, agency, carer.device_id)
    assert [f.head for f in row.feeds] == [7]
    acked_at = node.clock.now_ms()
    node.activity.record(carer.device_id, carer.id, 1, 7)
    await node.activity.flush()
    _clock(node).advance(4 * 60)
    await _visit(node, agency, carer.id, 3)
    await _visit(node, agency, carer.id, 4)
    _clock(node).advance(7 * 60)

    row = await _row(node, agency, carer.device_id)
    assert row.sync_lag_changes == 2
    assert row.in_sync is False
    assert row.last_successful_sync_at == to_datetime(acked_at)
    assert row.stale is False

    _clock(node).advance(24 * 3600)  # a day later, still two behind: now it is stale
    assert (await _row(node, agency, carer.device_id)).stale is True


async def test_an_ack_made_after_the_next_change_proves_nothing(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=3, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    await _visit(node, agency, carer.id, 3)  # change 4 exists before the phone reports 3
    _clock(node).advance(60)
    node.activity.record(carer.device_id, carer.id, 1, 3)
    await node.activity.flush()
    row = await _row(node, agency, carer.device_id)
    assert row.sync_lag_changes == 1
    assert row.last_successful_sync_at is None
    assert row.stale is True


async def test_revoked_deactivated_and_enrolling_devices_are_shown_as_such(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=3, visits_per_carer=0)
    first, second, third = agency.carers
    assert (await _row(node, agency, first.device_id)).state == "active"
    await node.devices.revoke(agency.tenant_id, first.device_id)
    await node.devices.deactivate(agency.tenant_id, second.device_id)
    spare = await node.devices.create_device(
        agency.tenant_id, name="Spare", carer_ids=[third.id], branch_id=agency.branch_id, issue_token=False
    )
    assert (await _row(node, agency, first.device_id)).state == "revoked"
    assert (await _row(node, agency, second.device_id)).state == "deactivated"
    assert (await _row(node, agency, spare.device_id)).state == "awaiting enrolment"
    assert (await _row(node, agency, third.device_id)).state == "active"


async def test_a_device_without_a_branch_is_shown_to_its_carers_branch(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=0)
    south = await node.directory.create_branch(agency.tenant_id, "South")
    sam = await node.directory.create_user(agency.tenant_id, south, "Sam", "carer")
    north_lead = Staff(user_id="n", tenant_id=agency.tenant_id, role="coordinator", branch_id=agency.branch_id)
    south_lead = Staff(user_id="s", tenant_id=agency.tenant_id, role="coordinator", branch_id=south)
    async with node.db.write() as conn:  # a device registered before branches followed carers
        await conn.execute(
            insert(devices).values(id="d-branchless", tenant_id=agency.tenant_id, name="Sam's phone", created_at=1)
        )
        await conn.execute(insert(device_users).values(device_id="d-branchless", user_id=sam))
    row = await _row(node, agency, "d-branchless", south_lead)
    assert row.users == ["Sam"]
    assert row.branch_name == "South"
    north = await DeviceReport(node.db, node.clock).build(north_lead, ReportQuery(page_size=None))
    assert "d-branchless" not in [r.device_id for r in north.rows]
