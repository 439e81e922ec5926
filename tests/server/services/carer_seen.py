"""What the carer-acknowledgement tests share: an agency whose seeded visits are far away,
a visit of one carer starting soon, the device and frames (the node on a hand-moved clock
is the ``clocked_node`` fixture of conftest.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from protocol.frames import Seen, VisitView
from server.clock import to_datetime
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services import feeds
from server.services.identity import DeviceIdentity
from server.services.rota import NewTask
from server.store.schema import tenants


async def far_agency(node: Node, carers: int = 1) -> SeededAgency:
    """Seeded visits ten days ahead (never due an alert); grace 60 s, lead 2 h."""
    agency = await seed_agency(
        node, carers=carers, visits_per_carer=1, day=to_datetime(node.clock.now_ms()) + timedelta(days=10)
    )
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_grace_s=60, seen_lead_s=7200))
    return agency


async def visit_soon(node: Node, agency: SeededAgency, carer: int = 0, in_minutes: int = 30) -> VisitView:
    start = to_datetime(node.clock.now_ms()) + timedelta(minutes=in_minutes)
    return await node.rota.create_visit(
        agency.admin, client_id=agency.client_ids[0], starts_at=start, ends_at=start + timedelta(hours=1),
        carer_ids=[agency.carers[carer].id], tasks_=[NewTask("Meal")],
    )  # fmt: skip


def identity(agency: SeededAgency, carer: int = 0) -> DeviceIdentity:
    c = agency.carers[carer]
    return DeviceIdentity(device_id=c.device_id, tenant_id=agency.tenant_id, uuid=c.device_uuid, carers={c.id: c.name})


def seen(node: Node, feed: str, seqs: list[int], epoch: int = 1, request_id: str = "s1") -> Seen:
    return Seen(request_id=request_id, feed=feed, epoch=epoch, seqs=seqs, seen_at=to_datetime(node.clock.now_ms()))


async def delivered(node: Node, agency: SeededAgency, seq: int, carer: int = 0) -> None:
    """The carer's phone acknowledged up to ``seq`` (the ack buffer flushed by hand)."""
    c = agency.carers[carer]
    node.activity.record(c.device_id, c.id, 1, seq)
    await node.activity.flush()


async def head(node: Node, carer_id: str) -> int:
    async with node.db.read() as conn:
        return (await feeds.heads(conn, [carer_id]))[carer_id].seq
