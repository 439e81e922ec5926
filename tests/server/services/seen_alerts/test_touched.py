"""Which visits a "not seen" pass going from its previous pass reads: those whose latest
change's grace passed since (or has yet to), those that came within the lead since, those
a phone of their carers acknowledged something for since, and those whose alert was closed
since; none more than the limit."""

from __future__ import annotations

from sqlalchemy import select

from server.node import Node
from server.services.seen_alerts import touched
from server.services.seen_alerts.detector import SeenAlerts
from server.store.schema import seen_alerts
from tests.server.services.carer_seen import delivered, far_agency, head, visit_soon


async def _touched(node: Node, since_ms: int, limit: int = 100) -> list[str] | None:
    async with node.db.read() as conn:
        return await touched.visits_touched(conn, node.clock.now_ms(), since_ms, limit)


def _advance(node: Node, seconds: float) -> None:
    node.clock.advance(seconds)  # type: ignore[attr-defined]


async def test_a_changed_visit_is_touched_until_its_grace_is_behind_since(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)  # grace 60 s, lead 2 h
    changed_at = node.clock.now_ms()
    visit = await visit_soon(node, agency, in_minutes=30)  # within the lead already
    assert await _touched(node, changed_at - 1) == [visit.id], "in its grace"
    _advance(node, 61)
    assert await _touched(node, changed_at + 60_000) == [visit.id], "its grace passed since"
    assert await _touched(node, changed_at + 60_001) == [], "its grace passed before"


async def test_a_visit_is_touched_when_it_comes_within_the_lead(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    visit = await visit_soon(node, agency, in_minutes=5 * 60)  # the lead's moment: in 3 h
    _advance(node, 120)
    assert await _touched(node, node.clock.now_ms() - 1) == [], "grace behind, lead ahead"
    _advance(node, 3 * 3600 - 120)
    assert await _touched(node, node.clock.now_ms() - 30_000) == [visit.id]
    _advance(node, 31)
    assert await _touched(node, node.clock.now_ms() - 30_000) == []


async def test_an_ack_or_a_closed_alert_touches_the_visits_of_the_carer(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    carer = agency.carers[0]
    visit = await visit_soon(node, agency, in_minutes=30)
    _advance(node, 600)
    since = node.clock.now_ms()
    assert await _touched(node, since) == []
    await delivered(node, agency, await head(node, carer.id))
    assert await _touched(node, since) == [visit.id], "a phone acknowledged"
    _advance(node, 600)
    since = node.clock.now_ms()
    detector = SeenAlerts(node.db, node.bus, node.clock)
    assert (await detector.run_once()).raised == 1
    assert await _touched(node, since) == [], "raising is not closing"
    alert_id = await _open_alert(node)
    assert await detector.dismiss(alert_id, agency.admin.user_id)
    assert await _touched(node, since) == [visit.id], "its alert was closed"


async def test_more_visits_than_the_limit_is_none(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    since = node.clock.now_ms()
    visits = {(await visit_soon(node, agency, in_minutes=30 + i)).id for i in range(3)}
    assert set(await _touched(node, since, limit=3) or []) == visits
    assert await _touched(node, since, limit=2) is None


async def _open_alert(node: Node) -> str:
    async with node.db.read() as conn:
        return str((await conn.execute(select(seen_alerts.c.id).where(seen_alerts.c.status == "open"))).scalar_one())
