"""Notes a coordinator marks as needing acknowledgement: the change carrying them needs the
carer's ``seen`` whatever the tenant's window, is alerted after the grace when delivered and
not seen, and shows as marked in the visit's history."""

from __future__ import annotations

from sqlalchemy import select, update

from server.node import Node
from server.services.seen_alerts.detector import SeenAlerts
from server.services.seen_history import visit_seen_history
from server.store.schema import feed_entries, seen_alerts, tenants
from tests.server.services.carer_seen import delivered, far_agency, head, visit_soon


async def _window_off(node: Node) -> None:
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_window_h=0))


async def _raised(node: Node) -> list[tuple[int, str]]:
    async with node.db.read() as conn:
        rows = await conn.execute(select(seen_alerts.c.seq, seen_alerts.c.details).order_by(seen_alerts.c.seq))
        return [(r.seq, "notes changed, to acknowledge" in r.details) for r in rows]  # type: ignore[misc]


async def test_a_marked_note_is_alerted_with_the_window_off_and_an_unmarked_one_is_not(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await _window_off(node)
    visit = await visit_soon(node, agency, in_minutes=30)
    carer = agency.carers[0]
    detector = SeenAlerts(node.db, node.bus, node.clock)

    await node.rota.update_notes(agency.admin, visit.id, "Side door")
    await delivered(node, agency, await head(node, carer.id))
    node.clock.advance(61)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0, "the window is off and the note is not marked"

    await node.rota.update_notes(agency.admin, visit.id, "Side door: key safe moved", needs_seen=True)
    marked_seq = await head(node, carer.id)
    await delivered(node, agency, marked_seq)
    node.clock.advance(30)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 0, "within the grace"
    node.clock.advance(31)  # type: ignore[attr-defined]
    assert (await detector.run_once()).raised == 1
    assert await _raised(node) == [(marked_seq, True)]

    async with node.db.read() as conn:
        stored = dict((await conn.execute(select(feed_entries.c.seq, feed_entries.c.needs_seen))).all())
        history = await visit_seen_history(conn, agency.admin, visit.id)
    assert stored[marked_seq] is True and stored[marked_seq - 1] is False
    listed = [(c.seq, c.change, c.marked, c.needs_seen) for c in history.changes]
    assert listed == [
        (marked_seq, "notes changed, to acknowledge", True, True),
        (marked_seq - 1, "notes changed", False, False),
        (marked_seq - 2, "new visit", False, False),
    ]


async def test_a_new_visit_marked_needs_it_beyond_the_window(clocked_node: Node) -> None:
    """Inside the lead but 26 hours past the change, beyond a 24 h window: only the mark asks."""
    node = clocked_node
    agency = await far_agency(node)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_window_h=1, seen_lead_s=86_400))
    carer = agency.carers[0]
    plain = await visit_soon(node, agency, in_minutes=180)
    marked = await node.rota.create_visit(
        agency.admin, client_id=agency.client_ids[1], starts_at=plain.starts_at, ends_at=plain.ends_at,
        carer_ids=[carer.id], tasks_=[], notes="Bring the new dressing", needs_seen=True,
    )  # fmt: skip
    await delivered(node, agency, await head(node, carer.id))
    node.clock.advance(61)  # type: ignore[attr-defined]
    assert (await SeenAlerts(node.db, node.bus, node.clock).run_once()).raised == 1
    async with node.db.read() as conn:
        assert (await conn.execute(select(seen_alerts.c.visit_id))).scalars().all() == [marked.id]
