from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select

from protocol.frames import Change, VisitRemoved, VisitUpsert
from server.node import Node
from server.seeding import seed_agency
from server.services.errors import Forbidden, InvalidInput, NotFound
from server.services.identity import Staff
from server.store.schema import feed_entries, visits


async def _entries(node: Node, carer_id: str) -> list[Change]:
    async with node.db.read() as conn:
        rows = await conn.execute(
            select(feed_entries.c.frame).where(feed_entries.c.carer_id == carer_id).order_by(feed_entries.c.seq)
        )
        return [msgspec.json.decode(r.frame, type=Change) for r in rows]


async def test_reassign_writes_one_entry_per_affected_carer(node: Node) -> None:
    agency = await seed_agency(node, carers=3, visits_per_carer=1)
    a, b, c = agency.carers
    await node.rota.reassign(agency.admin, a.visit_ids[0], [b.id, c.id])
    a_feed, b_feed, c_feed = [await _entries(node, x.id) for x in (a, b, c)]
    assert isinstance(a_feed[-1].payload, VisitRemoved)
    for entries in (b_feed, c_feed):
        last = entries[-1]
        assert isinstance(last.payload, VisitUpsert)
        assert last.payload.visit.carer_ids == sorted([b.id, c.id])
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))


async def test_concurrent_changes_leave_gap_free_feeds(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=3)
    a, b = agency.carers
    visits = a.visit_ids + b.visit_ids

    async def shuffle(i: int) -> None:
        visit_id = visits[i % len(visits)]
        await node.rota.reassign(agency.admin, visit_id, [a.id] if i % 2 else [b.id])
        await node.rota.update_notes_by_token(agency.admin_token, visit_id, f"note {i}")

    await asyncio.gather(*(shuffle(i) for i in range(40)))
    for carer in (a, b):
        seqs = [e.seq for e in await _entries(node, carer.id)]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_coordinator_is_limited_to_their_branch(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    other_branch = await node.directory.create_branch(agency.tenant_id, "South")
    coordinator_id = await node.directory.create_user(agency.tenant_id, other_branch, "Cora", "coordinator")
    coordinator = Staff(coordinator_id, agency.tenant_id, "coordinator", other_branch)
    with pytest.raises(Forbidden):
        await node.rota.cancel(coordinator, agency.carers[0].visit_ids[0])
    with pytest.raises(Forbidden):
        await node.rota.get_visit(coordinator, agency.carers[0].visit_ids[0])


async def test_invalid_rota_input_is_refused_and_changes_nothing(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    visit_id = agency.carers[0].visit_ids[0]
    before = await node.rota.get_visit(agency.admin, visit_id)
    with pytest.raises(InvalidInput):
        await node.rota.reschedule(agency.admin, visit_id, before.ends_at, before.starts_at)
    with pytest.raises(InvalidInput):
        await node.rota.reassign(agency.admin, visit_id, ["nobody"])
    with pytest.raises(InvalidInput):
        await node.rota.add_task_by_token(agency.admin_token, visit_id, "   ")
    with pytest.raises(NotFound):
        await node.rota.change_task_by_token(agency.admin_token, visit_id, "no-task", title="x", removed=None)
    with pytest.raises(InvalidInput):
        await node.rota.change_task_by_token(agency.admin_token, visit_id, "no-task", title=None, removed=None)
    after = await node.rota.get_visit(agency.admin, visit_id)
    assert after == before
    assert len(await _entries(node, agency.carers[0].id)) == 1
    assert after.starts_at - after.ends_at < timedelta(0)


async def test_a_change_whose_caller_is_cancelled_while_it_waits_still_rings_the_bus(node: Node) -> None:
    """A client that hangs up while its change waits (for SQLite's writer thread, or a row
    lock on PostgreSQL) stops neither the change nor its doorbell: it commits, and devices
    hear of it at once, not at the next heartbeat."""
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    published: list[str] = []
    publish = node.bus.publish

    async def recording_publish(channel: str, payload: bytes) -> None:
        published.append(channel)
        await publish(channel, payload)

    node.bus.publish = recording_publish  # type: ignore[method-assign]
    before = await node.rota.get_visit(agency.admin, carer.visit_ids[0])
    release = asyncio.Event()

    async def hold_the_visit() -> None:
        # SQLite: an ORM write holds the writer thread; PostgreSQL: the visit's row lock.
        async with node.db.write() as conn:
            await conn.execute(select(visits.c.id).where(visits.c.id == carer.visit_ids[0]).with_for_update())
            await release.wait()

    holder = asyncio.create_task(hold_the_visit())
    await asyncio.sleep(0.05)
    change = asyncio.create_task(
        node.rota.reschedule(
            agency.admin, carer.visit_ids[0], before.starts_at + timedelta(hours=1), before.ends_at + timedelta(hours=1)
        )
    )
    await asyncio.sleep(0.05)
    change.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await change
    for _ in range(200):
        if published:
            break
        await asyncio.sleep(0.01)
    entries = await _entries(node, carer.id)
    assert isinstance(entries[-1].payload, VisitUpsert)
    assert entries[-1].payload.visit.starts_at == before.starts_at + timedelta(hours=1)
    assert published == [f"feed:{carer.id}"]
