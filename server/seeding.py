"""Seeding an agency: a tenant, a branch, carers with devices, clients and a day of visits.

Used by ``caresync demo``, the benchmarks and the tests; everything goes through the
same services as the API, so seeded data is indistinguishable from real data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from server.node import Node
from server.services.identity import Staff
from server.services.rota import NewTask

FIRST_NAMES = ["Amara", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hari", "Isla", "Jon"]
CLIENT_NAMES = ["Mrs Patel", "Mr Jones", "Ms Okafor", "Mr Novak", "Mrs Evans", "Mr Byrne"]


@dataclass
class SeededCarer:
    id: str
    name: str
    device_id: str
    device_uuid: str
    device_token: str
    visit_ids: list[str] = field(default_factory=list)


@dataclass
class SeededAgency:
    tenant_id: str
    branch_id: str
    admin: Staff
    admin_token: str
    carers: list[SeededCarer]
    client_ids: list[str]


async def seed_agency(
    node: Node,
    *,
    name: str = "Sunrise Home Care",
    carers: int = 3,
    clients: int = 4,
    visits_per_carer: int = 4,
    day: datetime | None = None,
) -> SeededAgency:
    directory = node.directory
    tenant = await directory.create_tenant(name)
    branch_id = await directory.create_branch(tenant.tenant_id, "North")
    admin = Staff(user_id=tenant.admin_id, tenant_id=tenant.tenant_id, role="admin", branch_id=None)
    client_ids = [
        await directory.create_client(
            tenant.tenant_id, branch_id, CLIENT_NAMES[i % len(CLIENT_NAMES)], f"{i + 1} High Street"
        )
        for i in range(clients)
    ]
    start = (day or datetime.now(UTC)).replace(hour=8, minute=0, second=0, microsecond=0)
    seeded = []
    for i in range(carers):
        carer_name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {i + 1}"
        carer_id = await directory.create_user(tenant.tenant_id, branch_id, carer_name, "carer")
        device_uuid = str(uuid.uuid4())
        device = await node.devices.create_device(
            tenant.tenant_id, uuid=device_uuid, name=f"{carer_name}'s phone", carer_ids=[carer_id], branch_id=branch_id
        )
        assert device.token is not None
        carer = SeededCarer(carer_id, carer_name, device.device_id, device_uuid, device.token)
        for v in range(visits_per_carer):
            visit = await node.rota.create_visit(
                admin,
                client_id=client_ids[(i + v) % len(client_ids)],
                starts_at=start + timedelta(hours=2 * v),
                ends_at=start + timedelta(hours=2 * v, minutes=45),
                carer_ids=[carer_id],
                tasks_=[NewTask("Medication"), NewTask("Lunch"), NewTask("Personal care")],
            )
            carer.visit_ids.append(visit.id)
        seeded.append(carer)
    return SeededAgency(
        tenant_id=tenant.tenant_id,
        branch_id=branch_id,
        admin=admin,
        admin_token=tenant.admin_token,
        carers=seeded,
        client_ids=client_ids,
    )
