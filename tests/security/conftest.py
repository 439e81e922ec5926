"""Two agencies on one served node: branch A (where the coordinator works), branch B of
the same agency, and another agency. Every security test attacks from branch A."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from server.seeding import SeededAgency, seed_agency
from server.services.identity import Staff
from tests.conftest import RunningServer

PASSWORD = "correct horse battery staple"


@dataclass
class Branch:
    id: str
    carer_id: str
    client_id: str
    visit_id: str
    device_id: str
    task_id: str


@dataclass
class World:
    running: RunningServer
    agency: SeededAgency
    coordinator_id: str
    coordinator_token: str
    coordinator_login: str
    a: Branch
    b: Branch
    other: Branch
    other_agency: SeededAgency


def carer_name_of(branch_id: str) -> str:
    return f"Carer {branch_id[:8]}"


def address_of(branch_id: str) -> str:
    return f"{branch_id[:8]} Secret Lane"


async def _branch_of(running: RunningServer, agency: SeededAgency, branch_id: str, admin: Staff) -> Branch:
    node = running.node
    carer_id = await node.directory.create_user(agency.tenant_id, branch_id, carer_name_of(branch_id), "carer")
    client_id = await node.directory.create_client(agency.tenant_id, branch_id, "Mrs Client", address_of(branch_id))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    visit = await node.rota.create_visit(
        admin,
        client_id=client_id,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        carer_ids=[carer_id],
        tasks_=[],
        notes="key safe 1234",
    )
    _staff, visit = await node.rota.add_task_by_token(agency.admin_token, visit.id, "Medication")
    device = await node.devices.create_device(
        agency.tenant_id, uuid=str(uuid.uuid4()), name="Phone", carer_ids=[carer_id], branch_id=branch_id
    )
    return Branch(branch_id, carer_id, client_id, visit.id, device.device_id, visit.tasks[0].id)


async def build_world(running: RunningServer) -> World:
    node = running.node
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=1)
    other_agency = await seed_agency(node, name="Other Agency", carers=1, clients=1, visits_per_carer=1)
    branch_b = await node.directory.create_branch(agency.tenant_id, "South")
    a = await _branch_of(running, agency, agency.branch_id, agency.admin)
    b = await _branch_of(running, agency, branch_b, agency.admin)
    other = await _branch_of(running, other_agency, other_agency.branch_id, other_agency.admin)
    coordinator_id = await node.directory.create_user(agency.tenant_id, agency.branch_id, "Cora", "coordinator")
    login = f"cora-{uuid.uuid4().hex[:6]}@north.test"
    await node.staff_auth.set_password(agency.tenant_id, coordinator_id, login, PASSWORD)
    token = await node.directory.issue_staff_token(agency.tenant_id, coordinator_id)
    return World(running, agency, coordinator_id, token, login, a, b, other, other_agency)


@pytest.fixture
async def world(running: RunningServer) -> World:
    return await build_world(running)
