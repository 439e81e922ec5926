"""Whether each carer's phone has a visit's latest change: delivered, queued or no phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.node import Node
from server.seeding import seed_agency
from server.services.rota import NewTask
from server.services.visit_delivery import delivery


async def test_delivered_after_the_ack_queued_before_and_no_phone_without_one(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=0)
    amara, ben = agency.carers
    dara = await node.directory.create_user(agency.tenant_id, agency.branch_id, "Dara", "carer")
    start = datetime.now(UTC) + timedelta(hours=2)
    visit = await node.rota.create_visit(
        agency.admin,
        client_id=agency.client_ids[0],
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        carer_ids=[amara.id, ben.id, dara],
        tasks_=[NewTask("Lunch")],
    )
    pairs = [(visit.id, amara.id), (visit.id, ben.id), (visit.id, dara)]
    async with node.db.read() as conn:
        assert await delivery(conn, pairs) == dict.fromkeys(pairs[:2], "queued") | {pairs[2]: "no phone"}
    node.activity.record(amara.device_id, amara.id, 1, 1)
    await node.activity.flush()
    async with node.db.read() as conn:
        said = await delivery(conn, pairs)
    assert said[pairs[0]] == "delivered" and said[pairs[1]] == "queued"

    await node.rota.reschedule(agency.admin, visit.id, start + timedelta(hours=1), start + timedelta(hours=2))
    async with node.db.read() as conn:
        assert (await delivery(conn, pairs))[pairs[0]] == "queued", "a newer change waits for the phone"

    await node.devices.deactivate(agency.tenant_id, amara.device_id)
    async with node.db.read() as conn:
        assert (await delivery(conn, pairs))[pairs[0]] == "no phone", "a deactivated phone gets nothing"
