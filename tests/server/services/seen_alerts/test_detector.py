"""The "delivered but not seen" alerts: raised after the grace once the visit is near, only for what a
phone holds, resolved by the carer's acknowledgement, dismissed by hand (audited), never
raised twice for one change."""

from __future__ import annotations

import msgspec
from sqlalchemy import select, update

from server.node import Node
from server.services.seen_alerts.detector import SeenAlerts
from server.services.seen_ledger import SeenLedger
from server.store.schema import console_events, seen_alert_audit, seen_alerts, tenants
from server.tunables import SEEN_FULL_PASS_INTERVAL_S
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


# Passes after the first read only what happened since the previous one (watermark.py,
# touched.py): each of these is raised by such a pass, on time, as a full pass would.


def _advance(node: Node, seconds: float) -> None:
    node.clock.advance(seconds)  # type: ignore[attr-defined]


async def test_a_change_delivered_long_after_its_grace_is_alerted_by_the_next_pass(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=60)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    assert (await detector.run_once()).full
    for _ in range(10):  # the change's grace passes, with no phone holding it
        _advance(node, 30)
        report = await detector.run_once()
        assert (report.full, report.raised) == (False, 0)
    await delivered(node, agency, await head(node, agency.carers[0].id))
    _advance(node, 30)
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)


async def test_closing_an_alert_lets_the_next_pass_alert_the_later_change_it_held_back(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    carer = agency.carers[0]
    visit = await visit_soon(node, agency, in_minutes=60)
    await delivered(node, agency, await head(node, carer.id))
    detector = SeenAlerts(node.db, node.bus, node.clock)
    _advance(node, 61)
    assert (await detector.run_once()).raised == 1
    await node.rota.update_notes_by_token(agency.admin_token, visit.id, "the side door")
    later = await head(node, carer.id)
    await delivered(node, agency, later)
    for _ in range(10):  # its grace passes while the first alert holds it back
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0
    async with node.db.read() as conn:
        alert_id = (await conn.execute(select(seen_alerts.c.id))).scalar_one()
    assert await detector.dismiss(alert_id, agency.admin.user_id)
    _advance(node, 30)
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)
    assert [seq for _c, status, seq, _by in await _alerts(node) if status == "open"] == [later]


async def test_a_removal_due_while_a_later_change_is_in_its_grace_is_alerted_on_time(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node, carers=2)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_grace_s=300))
    first = agency.carers[0]
    visit = await visit_soon(node, agency, in_minutes=60)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    await detector.run_once()
    _advance(node, 10)
    await node.rota.reassign_by_token(agency.admin_token, visit.id, [agency.carers[1].id])  # first's removal
    await delivered(node, agency, await head(node, first.id))
    for _ in range(6):  # to +190 s: the ack falls behind what the passes read again
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0
    _advance(node, 10)
    await node.rota.update_notes_by_token(agency.admin_token, visit.id, "the side door")  # in its grace till +500 s
    for _ in range(3):  # to +290 s
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0
    _advance(node, 30)  # the removal's grace passed at +310 s
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)
    assert [carer for carer, *_rest in await _alerts(node)] == [first.id]


async def test_a_visit_coming_within_the_lead_is_alerted_by_the_next_pass(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=125)  # within the 2 h lead from +300 s
    await delivered(node, agency, await head(node, agency.carers[0].id))
    detector = SeenAlerts(node.db, node.bus, node.clock)
    await detector.run_once()
    for _ in range(9):  # to +270 s
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0
    _advance(node, 30)
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)


async def test_an_ack_stamped_before_the_previous_pass_is_still_read(clocked_node: Node) -> None:
    """A node whose clock is behind (or whose write committed late) stamps an ack earlier
    than the previous pass: the lookback reads it."""
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=60)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    for _ in range(6):
        await detector.run_once()
        _advance(node, 30)
    assert (await detector.run_once()).raised == 0
    _advance(node, -20)
    await delivered(node, agency, await head(node, agency.carers[0].id))
    _advance(node, 50)
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)


async def test_a_longer_lead_is_read_at_once(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency, in_minutes=4 * 60)
    await delivered(node, agency, await head(node, agency.carers[0].id))
    detector = SeenAlerts(node.db, node.bus, node.clock)
    for _ in range(5):
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0, "beyond the 2 h lead"
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_lead_s=5 * 3600))
    _advance(node, 30)
    report = await detector.run_once()
    assert (report.full, report.raised) == (True, 1)


async def test_a_pass_after_a_long_gap_reads_all_of_it(clocked_node: Node) -> None:
    """The lease went elsewhere and came back (or the node paused): nothing in between is lost."""
    node = clocked_node
    agency = await far_agency(node)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    await detector.run_once()
    await visit_soon(node, agency, in_minutes=60)
    await delivered(node, agency, await head(node, agency.carers[0].id))
    _advance(node, 300)
    report = await detector.run_once()
    assert (report.full, report.raised) == (False, 1)
    assert (await SeenAlerts(node.db, node.bus, node.clock).run_once()).raised == 0, "another node: raised once"


async def test_a_reactivated_phone_is_read_within_the_full_pass_interval(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    carer = agency.carers[0]
    await visit_soon(node, agency, in_minutes=60)
    await delivered(node, agency, await head(node, carer.id))
    await node.devices.deactivate(agency.tenant_id, carer.device_id)
    detector = SeenAlerts(node.db, node.bus, node.clock)
    for _ in range(5):  # its grace passes, and falls behind what the passes read again
        _advance(node, 30)
        assert (await detector.run_once()).raised == 0, "no active phone holds it"
    await node.devices.reactivate(agency.tenant_id, carer.device_id)
    passes = 0
    while (report := await detector.run_once()).raised == 0:
        passes += 1
        assert passes * 30 <= SEEN_FULL_PASS_INTERVAL_S
        _advance(node, 30)
    assert report.full, "no timestamp records a reactivation: the full pass finds it"
