"""Late-visit alerts: raised once the grace after the start passes with no check-in, saying
whether the phone holds the visit and whether the carer saw its latest change; resolved by
a check-in uploaded through a sync; never raised twice for one visit."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from sqlalchemy import select, update

from protocol.frames import CheckIn, SyncRequest
from server.clock import to_datetime
from server.node import Node
from server.services.seen_ledger import SeenLedger
from server.services.visit_alerts.detector import LateVisits
from server.services.visit_status import recorded_for
from server.store.schema import console_events, tenants, visit_alert_audit, visit_alerts
from tests.server.services.carer_seen import delivered, far_agency, head, identity, seen, visit_soon


async def _alerts(node: Node) -> list[tuple[str, str, str | None]]:
    async with node.db.read() as conn:
        return [(r.visit_id, r.status, r.closed_by) for r in await conn.execute(select(visit_alerts))]


async def test_no_check_in_by_the_grace_raises_one_alert_and_a_check_in_resolves_it(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(late_grace_s=600))
    visit = await visit_soon(node, agency, in_minutes=5)
    carer = agency.carers[0]
    await delivered(node, agency, await head(node, carer.id))
    late = LateVisits(node.db, node.bus, node.clock)
    node.clock.advance(10 * 60)  # type: ignore[attr-defined]
    assert (await late.run_once()).raised == 0, "5 minutes after the start: within the grace"
    node.clock.advance(6 * 60)  # type: ignore[attr-defined]
    assert (await late.run_once()).raised == 1
    assert (await late.run_once()).raised == 0, "one alert per visit"
    assert await _alerts(node) == [(visit.id, "open", None)]
    async with node.db.read() as conn:
        frames = [msgspec.json.decode(r.frame) for r in await conn.execute(select(console_events))]
    alert = next(f["event"]["alert"] for f in frames if f["event"]["kind"] == "alert_raised")
    assert (alert["diagnosis"], alert["severity"], alert["minutes_until_start"]) == ("no_check_in", "high", -11)
    assert "phone holds the visit" in alert["action"] and "has not seen its latest change" in alert["action"]

    node.sync.on_checked_in.append(late.on_check_in)
    moment = to_datetime(node.clock.now_ms())
    check_in = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=visit.id, captured_at=moment)
    answer = await node.sync.standard_sync(identity(agency), SyncRequest(request_id="r1", mutations=[check_in]))
    assert [r.status for r in answer.results] == ["applied"]
    assert await _alerts(node) == [(visit.id, "resolved", None)]
    async with node.db.read() as conn:
        assert (await recorded_for(conn, [visit.id]))[visit.id].checked_in_at == int(moment.timestamp() * 1000)
        audit = [r.action for r in await conn.execute(select(visit_alert_audit).order_by(visit_alert_audit.c.at))]
    assert audit == ["raised", "resolved"]


async def test_the_alert_says_the_carer_saw_the_change_and_can_be_dismissed(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=1)
    carer = agency.carers[0]
    seq = await head(node, carer.id)
    await delivered(node, agency, seq)
    await SeenLedger(node.db, node.clock, node.activity).record(identity(agency), seen(node, carer.id, [seq]))
    late = LateVisits(node.db, node.bus, node.clock)
    node.clock.advance(timedelta(minutes=20).total_seconds())  # type: ignore[attr-defined]
    await late.run_once()
    async with node.db.read() as conn:
        row = (await conn.execute(select(visit_alerts))).one()
    assert "saw its latest change" in msgspec.json.decode(row.details)["action"]
    assert await late.dismiss(row.id, agency.admin.user_id)
    assert await _alerts(node) == [(row.visit_id, "dismissed", agency.admin.user_id)]
    node.clock.advance(60)  # type: ignore[attr-defined]
    assert (await late.run_once()).raised == 0
