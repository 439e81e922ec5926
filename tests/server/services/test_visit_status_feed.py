"""Visit status on the console feed: a ``visit_status`` event when a check-in or check-out is
stored (not again for a retried upload), when the office cancels or reinstates a visit,
and once when the clock turns a visit late, then missed; a visit moved since is announced
again at its new times, once."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from sqlalchemy import select, update

from protocol.frames import CheckIn, CheckOut, SyncRequest
from server.clock import to_datetime
from server.node import Node
from server.store.schema import console_events, tenants, visit_status_announced
from tests.server.services.carer_seen import far_agency, identity, visit_soon


async def _statuses(node: Node) -> list[tuple[str, str, list[str]]]:
    async with node.db.read() as conn:
        rows = await conn.execute(select(console_events.c.frame).order_by(console_events.c.seq))
        events = [msgspec.json.decode(r.frame)["event"] for r in rows]
    return [(e["visit_id"], e["status"], e["carer_ids"]) for e in events if e["kind"] == "visit_status"]


async def test_a_check_in_then_a_check_out_are_announced_once_each(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    visit = await visit_soon(node, agency, in_minutes=5)
    carer = agency.carers[0]
    node.clock.advance(6 * 60)  # type: ignore[attr-defined]
    moment = to_datetime(node.clock.now_ms())
    check_in = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=visit.id, captured_at=moment)
    for attempt in range(2):  # the retry stores nothing new and announces nothing
        request = SyncRequest(request_id=f"r{attempt}", mutations=[check_in])
        await node.sync.standard_sync(identity(agency), request)
    assert await _statuses(node) == [(visit.id, "in_progress", [carer.id])]
    later = moment + timedelta(minutes=40)
    check_out = CheckOut(mutation_id=2, carer_id=carer.id, visit_id=visit.id, captured_at=later)
    await node.sync.standard_sync(identity(agency), SyncRequest(request_id="r3", mutations=[check_out]))
    assert await _statuses(node) == [(visit.id, "in_progress", [carer.id]), (visit.id, "completed", [carer.id])]
    assert await node.visit_status.run_once() == 0, "checked in: never late"


async def test_late_then_missed_are_announced_once_and_again_after_a_move(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(late_grace_s=600))
    visit = await visit_soon(node, agency, in_minutes=5)  # 5 minutes from now, an hour long
    node.clock.advance(14 * 60)  # type: ignore[attr-defined]
    assert await node.visit_status.run_once() == 0, "9 minutes after the start: within the grace"
    node.clock.advance(2 * 60)  # type: ignore[attr-defined]
    assert await node.visit_status.run_once() == 1
    assert await node.visit_status.run_once() == 0, "late is announced once"
    node.clock.advance(50 * 60)  # type: ignore[attr-defined]
    assert await node.visit_status.run_once() == 1
    assert await node.visit_status.run_once() == 0, "missed is announced once"
    carers = visit.carer_ids
    assert await _statuses(node) == [(visit.id, "late", carers), (visit.id, "missed", carers)]

    now = to_datetime(node.clock.now_ms())
    await node.rota.reschedule(agency.admin, visit.id, now - timedelta(minutes=20), now + timedelta(minutes=40))
    assert await node.visit_status.run_once() == 1, "moved: late again at its new start"
    assert (await _statuses(node))[-1] == (visit.id, "late", carers)
    await node.rota.cancel(agency.admin, visit.id)
    await node.rota.reinstate(agency.admin, visit.id)
    assert (await _statuses(node))[-2:] == [(visit.id, "cancelled", carers), (visit.id, "late", carers)]
    assert await node.visit_status.run_once() == 0, "reinstated late at the same times: told once"

    node.clock.advance(3 * 24 * 3600)  # type: ignore[attr-defined]
    assert await node.visit_status.run_once() == 0
    async with node.db.read() as conn:
        assert (await conn.execute(select(visit_status_announced))).all() == [], "old announcements forgotten"
