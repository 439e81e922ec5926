from __future__ import annotations

from sqlalchemy import select

from server.cluster.presence import DEAD_AFTER_MS, Presence, connected_devices, remove_dead_nodes
from server.node import Node
from server.seeding import seed_agency
from server.store.schema import device_interruptions


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
    assert await remove_dead_nodes(node.db, later) >= 1


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
