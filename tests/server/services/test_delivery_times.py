"""Delivered with a time, per change: each ack batch leaves a mark per acknowledged position,
the earliest mark at or above a change's seq is when it reached a phone, a position reported
again (a reconnect, another phone) changes nothing, and retention removes old marks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from server.node import Node
from server.services.carer_changes import recent_changes
from server.services.delivery_times import delivered_at
from server.services.retention import compact_feeds
from server.services.seen_history import visit_seen_history
from server.services.seen_ledger import SeenLedger
from server.store.schema import delivery_marks, tenants
from tests.server.services.carer_seen import far_agency, head, identity, seen, visit_soon


async def test_a_change_is_delivered_at_the_first_ack_covering_it(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    carer = agency.carers[0]
    visit = await visit_soon(node, agency)
    first = await head(node, carer.id)
    await node.rota.update_notes(agency.admin, visit.id, "Side door")
    await node.rota.update_notes(agency.admin, visit.id, "Side door, key safe 1234", needs_seen=True)
    last = await head(node, carer.id)
    assert last == first + 2

    t1 = node.clock.now_ms()
    node.activity.record(carer.device_id, carer.id, 1, first)
    await node.activity.flush()
    node.clock.advance(90)  # type: ignore[attr-defined]
    t2 = node.clock.now_ms()
    node.activity.record(carer.device_id, carer.id, 1, last)
    await node.activity.flush()
    node.clock.advance(90)  # type: ignore[attr-defined]
    node.activity.record(carer.device_id, carer.id, 1, last)  # a reconnect's hello: the same position
    await node.activity.flush()

    async with node.db.read() as conn:
        times = await delivered_at(conn, [(carer.id, 1, s) for s in (1, first, first + 1, last, last + 1)])
        assert times == {
            (carer.id, 1, 1): t1,
            (carer.id, 1, first): t1,
            (carer.id, 1, first + 1): t2,
            (carer.id, 1, last): t2,
        }
        marks = (await conn.execute(select(delivery_marks.c.seq, delivery_marks.c.delivered_at))).all()
        assert sorted(marks) == [(first, t1), (last, t2)], "one mark per acknowledged position, the first"
        history = await visit_seen_history(conn, agency.admin, visit.id)
    assert [(c.seq, c.delivered_at and int(c.delivered_at.timestamp() * 1000)) for c in history.changes] == [
        (last, t2),
        (first + 1, t2),
        (first, t1),
    ]

    seen_at = node.clock.now_ms()
    await SeenLedger(node.db, node.clock, node.activity).record(identity(agency), seen(node, carer.id, [last]))
    async with node.db.read() as conn:
        listed = await recent_changes(conn, agency.admin, carer.id)
    said = [
        (c.seq, c.change, c.marked, c.needs_seen, c.delivered_at is not None, c.seen_at is not None) for c in listed
    ]
    assert said == [
        (last, "notes changed, to acknowledge", True, True, True, True),
        (first + 1, "notes changed", False, True, True, False),
        (first, "new visit", False, True, True, False),
        (1, "new visit", False, False, True, False),  # the seeded visit, ten days ahead
    ]
    assert listed[0].seen_at is not None and int(listed[0].seen_at.timestamp() * 1000) == seen_at


async def test_queued_changes_have_no_time_and_retention_removes_old_marks(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    carer = agency.carers[0]
    await visit_soon(node, agency)
    seq = await head(node, carer.id)
    async with node.db.read() as conn:
        assert await delivered_at(conn, [(carer.id, 1, seq)]) == {}
        listed = await recent_changes(conn, agency.admin, carer.id)
    assert [(c.seq, c.delivered, c.delivered_at) for c in listed] == [(seq, False, None), (seq - 1, False, None)]
    node.activity.record(carer.device_id, carer.id, 1, seq)
    await node.activity.flush()
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(feed_retention_days=1))
    node.clock.advance(int(timedelta(days=2).total_seconds()))  # type: ignore[attr-defined]
    report = await compact_feeds(node.db, node.clock)
    assert report.delivery_marks_removed == 1
    async with node.db.read() as conn:
        assert (await conn.execute(select(delivery_marks))).all() == []
