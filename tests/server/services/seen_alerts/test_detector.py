"""The "delivered but not seen" alerts: raised after the grace once the visit is near, only for what a
phone holds, resolved by the carer's acknowledgement, dismissed by hand (audited), never
raised twice for one change."""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from server.node import Node
from server.services.seen_alerts.detector import SeenAlerts
from server.services.seen_ledger import SeenLedger
from server.store.schema import console_events, seen_alert_audit, seen_alerts
from tests.server.services.carer_seen import delivered, far_agency, head, identity, seen, visit_soon


async def _alerts(node: Node) -> list[tuple[str, str, int, str | None]]:
    async with node.db.read() as conn:
        rows = await conn.execute(select(seen_alerts).order_by(seen_alerts.c.raised_at, seen_alerts.c.seq))
        return [(r.carer_id, r.status, r.seq, r.closed_by) for r in rows]


async def _events(node: Node) -> list[tuple[str, str]]:
    async with node.db.read() as conn:
        frames = [msgspec.json.decode(r.frame) for r in await conn.execute(select(console_events))]
    return [(f["event"]["kind"], f["event"]["alert"]["diagnosis"]) for f in frames if "alert" in f["event"]]


async def test_raised_after_the_grace_for_a_delivered_change_and_resolved_by_seen(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=30)
    carer = agency.carers[0]
    seq = await head(node, carer.id)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    node.clock.advance(61)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0, "not delivered: the sync-mismatch alert's business"
    await delivered(node, agency, seq)
    node.clock.advance(-61)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0, "within the grace"
    node.clock.advance(61)  # type: ignore[attr-defined]
    report = await detector.run_once()
    assert (report.due, report.raised) == (1, 1)
    assert await _alerts(node) == [(carer.id, "open", seq, None)]
    assert (await detector.run_once()).raised == 0, "one alert per change"
    ledger = SeenLedger(node.db, node.clock, node.activity)
    ledger.on_recorded.append(detector.on_seen)
    await ledger.record(identity(agency), seen(node, carer.id, [seq]))
    assert await _alerts(node) == [(carer.id, "resolved", seq, None)]
    assert await _events(node) == [("alert_raised", "not_seen"), ("alert_resolved", "not_seen")]


async def test_a_visit_far_ahead_waits_for_its_lead(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=5 * 60)  # inside the 24 h window, beyond the 2 h lead
    carer = agency.carers[0]
    await delivered(node, agency, await head(node, carer.id))
    detector = SeenAlerts(node.db, node.bus, node.clock)
    node.clock.advance(120)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0
    node.clock.advance(3 * 3600)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 1


async def test_dismissed_by_hand_is_audited_and_stays_closed(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency)
    carer = agency.carers[0]
    seq = await head(node, carer.id)
    await delivered(node, agency, seq)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    node.clock.advance(61)  # type: ignore[attr-defined]
    await detector.run_once()
    async with node.db.read() as conn:
        alert_id = (await conn.execute(select(seen_alerts.c.id))).scalar_one()
    node.clock.advance(1)  # type: ignore[attr-defined]
    assert await detector.dismiss(alert_id, agency.admin.user_id)
    assert not await detector.dismiss(alert_id, agency.admin.user_id), "no longer open"
    assert await _alerts(node) == [(carer.id, "dismissed", seq, agency.admin.user_id)]
    async with node.db.read() as conn:
        audit = [
            (r.action, r.actor_id) for r in await conn.execute(select(seen_alert_audit).order_by(seen_alert_audit.c.at))
        ]
    assert audit == [("raised", None), ("dismissed", agency.admin.user_id)]
    node.clock.advance(60)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0
