from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
from sqlalchemy import func, select, update

from server.clock import to_datetime
from server.node import Node
from server.seeding import seed_agency
from server.services.mismatch import alerts
from server.services.mismatch.detector import MismatchDetector
from server.services.rota import NewTask
from server.store.schema import alert_audit, console_events, console_feeds, mismatch_alerts, tenants


async def _count(node: Node, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with node.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def test_racing_detectors_raise_one_alert_per_carer(node: Node) -> None:
    agency = await seed_agency(node, carers=3, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(mismatch_grace_s=0))
    detectors = [MismatchDetector(node.db, node.bus, node.clock) for _ in range(4)]
    reports = await asyncio.gather(*(d.run_once() for d in detectors))
    assert sum(r.raised for r in reports) == 3
    assert await _count(node, mismatch_alerts, mismatch_alerts.c.status == "open") == 3
    assert await _count(node, alert_audit, alert_audit.c.action == "raised") == 3
    # More unacked changes update the open alert rather than adding one.
    start = to_datetime(node.clock.now_ms()) + timedelta(hours=2)
    await node.rota.create_visit(
        agency.admin, client_id=agency.client_ids[0], starts_at=start, ends_at=start + timedelta(hours=1),
        carer_ids=[agency.carers[0].id], tasks_=[NewTask("Meal")],
    )  # fmt: skip
    reports = await asyncio.gather(*(d.run_once() for d in detectors))
    assert sum(r.raised for r in reports) == 0
    assert sum(r.updated for r in reports) >= 1
    assert await _count(node, mismatch_alerts) == 3


async def test_acks_resolve_alerts_as_they_are_flushed(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(mismatch_grace_s=0))
    await node.mismatch.run_once()
    assert await _count(node, mismatch_alerts, mismatch_alerts.c.status == "open") == 1
    await node.activity.stop()  # flush by hand
    node.activity.record(carer.device_id, carer.id, 1, 1)
    await node.activity.flush()
    assert await _count(node, mismatch_alerts, mismatch_alerts.c.status == "open") == 1, "a partial ack is not enough"
    node.activity.record(carer.device_id, carer.id, 1, 2)
    await node.activity.flush()
    assert await _count(node, mismatch_alerts, mismatch_alerts.c.status == "resolved") == 1
    assert (await node.mismatch.run_once()).raised == 0


async def test_one_pass_raises_many_alerts_with_an_audit_entry_and_an_event_each(node: Node) -> None:
    agency = await seed_agency(node, carers=6, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(mismatch_grace_s=0))
        before = {r.scope_id: r.head_seq for r in await conn.execute(select(console_feeds))}
    report = await node.mismatch.run_once()
    assert report.raised == 6
    async with node.db.read() as conn:
        rows = (await conn.execute(select(mismatch_alerts))).all()
        audits = (await conn.execute(select(alert_audit.c.alert_id).where(alert_audit.c.action == "raised"))).all()
        heads = {r.scope_id: r.head_seq for r in await conn.execute(select(console_feeds))}
        events = (
            await conn.execute(select(console_events).order_by(console_events.c.scope_id, console_events.c.seq))
        ).all()
    assert sorted(a.alert_id for a in audits) == sorted(r.id for r in rows)
    carers = {c.id for c in agency.carers}
    for row in rows:
        view = alerts.view_of(row)
        assert view.carer_id in carers and view.devices and view.visits, (
            "each alert's details name its device and visits"
        )
    raised = [msgspec.json.decode(e.frame) for e in events if '"alert_raised"' in e.frame]
    assert sorted(f["event"]["alert"]["carer_id"] for f in raised) == sorted(carers)
    for scope, head in heads.items():
        seqs = [e.seq for e in events if e.scope_id == scope]
        assert seqs == list(range(1, head + 1)), "console seqs stay gap-free"
        assert all(msgspec.json.decode(e.frame)["seq"] == e.seq for e in events if e.scope_id == scope)
    assert sum(heads.values()) - sum(before.values()) == 6
