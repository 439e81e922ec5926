"""The cleanup job: forget nodes that stopped touching their row, and the sockets they held.

It runs once per cluster (a lease) and before each sync-mismatch pass, always on behalf of
one node, which is never among those it removes (server/cluster/presence.py decides
whether that node's own view is fresh enough to judge the others at all).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.cluster import interruptions
from server.store.database import Database
from server.store.schema import device_connections, nodes


def silent_for(dead_after_ms: int, now_ms: int, spare: str) -> ColumnElement[bool]:
    """Rows of nodes other than ``spare`` that have not touched their row for ``dead_after_ms``."""
    return and_(nodes.c.last_seen_at < now_ms - dead_after_ms, nodes.c.id != spare)


async def remove_dead_nodes(db: Database, now_ms: int, dead_after_ms: int, spare: str) -> int:
    """Remove the nodes silent for ``dead_after_ms`` (never ``spare``), recording the devices
    they held as cut at the node's last touch (their acks may have died with it).

    The row is deleted with its silence checked again in the same statement, so a node that
    touches its row meanwhile is kept; one removed while still running finds its row gone at
    its next touch and joins again with the sockets it holds."""
    silent = silent_for(dead_after_ms, now_ms, spare)
    async with db.read() as conn:
        if not (await conn.execute(select(nodes.c.id).where(silent).limit(1))).first():
            return 0
    async with db.write() as conn:
        removed = await conn.execute(delete(nodes).where(silent).returning(nodes.c.id, nodes.c.last_seen_at))
        dead = {r.id: int(r.last_seen_at) for r in removed}
        await _forget_connections(conn, dead)
    return len(dead)


async def _forget_connections(conn: AsyncConnection, dead: dict[str, int]) -> None:
    if not dead:
        return
    await interruptions.record_node_connections(conn, list(dead), dead)
    await conn.execute(delete(device_connections).where(device_connections.c.node_id.in_(list(dead))))
