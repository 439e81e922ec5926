from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from server.clock import ManualClock, SystemClock
from server.cluster.dead_nodes import remove_dead_nodes
from server.cluster.presence import DEAD_AFTER_MS, Presence, connected_devices
from server.node import Node
from server.seeding import seed_agency
from server.store.database import Database
from server.store.outage import StoreUnavailable
from server.store.schema import device_connections, device_interruptions, nodes
from tests.conftest import test_settings as settings_for
from tests.tcp_relay import CuttableRelay


async def test_connections_are_shared_and_die_with_their_node(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=1)
    a, b = (c.device_id for c in agency.carers)
    await node.presence.stop()  # flush by hand below, not in the background
    other = Presence(node.db, node.clock, "other-node", 0.1, node.bus)
    await other.register()
    other.connected(a)
    node.presence.connected(b)
    await other.step()
    await node.presence.step()
    async with node.db.read() as conn:
        assert await connected_devices(conn, [a, b], node.clock.now_ms()) == {a: "other-node", b: node.node_id}
    other.disconnected(a)
    await other.step()
    async with node.db.read() as conn:
        assert await connected_devices(conn, [a, b], node.clock.now_ms()) == {b: node.node_id}
    other.connected(a)
    await other.step()
    later = node.clock.now_ms() + DEAD_AFTER_MS + 1
    async with node.db.read() as conn:
        assert a not in await connected_devices(conn, [a], later), "a silent node's sockets do not count"
    assert await remove_dead_nodes(node.db, later, DEAD_AFTER_MS, spare=node.node_id) >= 1


async def _cut(node: Node, device_id: str) -> tuple[int, int | None]:
    async with node.db.read() as conn:
        row = (
            await conn.execute(select(device_interruptions).where(device_interruptions.c.device_id == device_id))
        ).one()
    return int(row.stopped_at), row.available_at


async def test_a_cut_is_made_available_only_by_a_node_that_is_not_stopping(node: Node) -> None:
    """A node retiring while another drains next to it (a whole cluster stopping) cannot
    count on that one: the cut waits for a node that is up and stays."""
    agency = await seed_agency(node, carers=2, visits_per_carer=0)
    a, b = (c.device_id for c in agency.carers)
    await node.presence.stop()
    node.draining = True
    leaving = Presence(node.db, node.clock, "leaving-node", 0.1, node.bus)
    await leaving.register()
    leaving.connected(a)
    leaving.connected(b)
    await leaving.step()
    leaving.draining = lambda: True
    leaving.disconnected(b)  # the drain closes b's socket, then the node retires with a
    await leaving.step()
    await leaving.retire()
    await node.mismatch.run_once()  # on a draining node: vouches for nothing
    assert (await _cut(node, a))[1] is None and (await _cut(node, b))[1] is None

    node.draining = False
    await node.mismatch.run_once()
    for device in (a, b):
        stopped, available = await _cut(node, device)
        assert available == max(stopped, node.presence.started_at)


async def _nodes(node: Node) -> set[str]:
    async with node.db.read() as conn:
        return {r.id for r in await conn.execute(select(nodes.c.id))}


async def test_a_node_whose_row_was_removed_joins_again_with_the_sockets_it_holds(node: Node) -> None:
    """Removed as dead while it could not write (a database outage), the node did not stop:
    its next touch finds no row, so it joins again and writes back every socket it holds,
    with what happened to its sockets meanwhile."""
    agency = await seed_agency(node, carers=3, visits_per_carer=0)
    held, left, arrived = (c.device_id for c in agency.carers)
    await node.presence.stop()
    node.presence.connected(held)
    node.presence.connected(left)
    await node.presence.step()
    async with node.db.write() as conn:  # what the cleanup job did while this node was cut off
        await conn.execute(delete(device_connections).where(device_connections.c.node_id == node.node_id))
        await conn.execute(delete(nodes).where(nodes.c.id == node.node_id))
    node.presence.disconnected(left)
    node.presence.connected(arrived)
    await node.presence.step()
    assert node.node_id in await _nodes(node)
    async with node.db.read() as conn:
        online = await connected_devices(conn, [held, left, arrived], node.clock.now_ms())
    assert online == {held: node.node_id, arrived: node.node_id}


async def test_a_node_never_removes_itself(node: Node) -> None:
    """Its own row older than the dead-node timeout (its touches failed), the node's cleanup
    and detection pass leave it and its sockets alone."""
    agency = await seed_agency(node, carers=1, visits_per_carer=0)
    device = agency.carers[0].device_id
    await node.presence.stop()
    node.presence.connected(device)
    await node.presence.step()
    stale = node.clock.now_ms() - DEAD_AFTER_MS - 1000
    async with node.db.write() as conn:
        await conn.execute(update(nodes).where(nodes.c.id == node.node_id).values(last_seen_at=stale))
    await node._remove_dead_nodes()
    await node.mismatch.run_once()
    assert await _nodes(node) == {node.node_id}
    async with node.db.read() as conn:
        rows = (await conn.execute(select(device_connections.c.device_id, device_connections.c.node_id))).all()
    assert [(r.device_id, r.node_id) for r in rows] == [(device, node.node_id)]


@pytest.fixture
async def judge(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Node, CuttableRelay]]:
    """A node on a manual clock whose database connection goes through a relay the test cuts;
    nothing runs in the background: the test steps it."""
    relay = CuttableRelay.to_url(postgres_url)
    await relay.start()
    settings = settings_for(tmp_path, database_url=relay.through(postgres_url), node_id="judge")
    built = Node.build(settings, clock=ManualClock(SystemClock().now_ms()))
    await built.db.migrate()
    await built.presence.register()
    yield built, relay
    await built.presence.retire()
    await built.db.close()
    await relay.close()


async def _step_until_written(presence: Presence) -> None:
    """Step until a write succeeds (the first may meet a connection the cut left dead)."""
    for _ in range(20):
        try:
            await presence.step()
            return
        except StoreUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("the store did not come back")


async def test_a_node_whose_writes_failed_judges_no_other_dead_until_it_has_written_for_a_whole_timeout(
    judge: tuple[Node, CuttableRelay], postgres_url: str
) -> None:
    """Every row is old when the database comes back: the others are as late as this node,
    not dead. Only silence through a whole timeout of this node's own writes is evidence."""
    node, relay = judge
    clock = node.clock
    assert isinstance(clock, ManualClock)
    peer_db = Database(postgres_url)
    peer = Presence(peer_db, clock, "peer", 0.1, node.bus)
    try:
        await peer.register()
        relay.cut()
        clock.advance(DEAD_AFTER_MS / 1000 + 5)
        with pytest.raises(StoreUnavailable):
            await node.presence.step()
        relay.restore()
        await _step_until_written(node.presence)
        await node._remove_dead_nodes()  # the peer has not touched yet either: it backs off too
        assert await _nodes(node) == {"judge", "peer"}

        clock.advance(DEAD_AFTER_MS / 1000 + 1)  # the peer stays silent while this node writes
        await node.presence.step()
        await node._remove_dead_nodes()
        assert await _nodes(node) == {"judge"}
    finally:
        await peer_db.close()


async def test_a_step_returns_only_once_a_step_already_writing_has_committed(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    device_id = agency.carers[0].device_id
    await node.presence.stop()
    node.presence.connected(device_id)
    writing = asyncio.create_task(node.presence.step())  # the background step, say
    await asyncio.sleep(0)  # it has taken the change and is writing it
    await node.presence.step()  # a caller that needs the connection written
    assert writing.done(), "step returned while an earlier step was still writing"
    async with node.db.read() as conn:
        assert await connected_devices(conn, [device_id], node.clock.now_ms()) == {device_id: node.node_id}


async def test_stopping_waits_for_a_step_in_progress(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    device_id = agency.carers[0].device_id
    node.presence.connected(device_id)
    writing = asyncio.create_task(node.presence.step())  # a step writing when the node stops
    await asyncio.sleep(0)
    await node.presence.stop()
    assert writing.done() and not writing.cancelled() and writing.exception() is None
    async with node.db.read() as conn:
        assert await connected_devices(conn, [device_id], node.clock.now_ms()) == {device_id: node.node_id}
