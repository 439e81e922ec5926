from __future__ import annotations

from server.cluster.presence import DEAD_AFTER_MS, Presence, connected_devices, remove_dead_nodes
from server.node import Node
from server.seeding import seed_agency


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
