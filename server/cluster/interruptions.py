"""Devices whose connection the serving side cut: their node stopped or died under them.

A device that was connected when its node went away could not receive what was
committed until a node was there to take it again, and the acks its node held in memory
may have died with it. The sync-mismatch detector therefore counts the grace of such a
device's changes from when it could have reconnected (``available_at``), not from their
commit (server/services/mismatch/acks_view.py).

Rows are written where the cut becomes known:

- a node draining (deploy, SIGTERM) records the devices it disconnects and, when it
  retires, those it still holds;
- a node starting records the connections a previous life under its own id left behind,
  and fills ``available_at`` of interruptions nobody could yet take;
- whoever removes a dead node (the cleanup job, or the detector before a pass) records
  that node's connections, stopped at its last sign of life.

``available_at`` is the earliest moment after the stop at which some node that was not
itself stopping was up: the stop itself when such a node was alive then, else the start
of the first node since. Whoever records a cut cannot tell that: another node seen alive
may be draining or dying too (a whole cluster stopping together), and a node starting
may not yet be visible to the transaction recording the cut. So cuts are recorded with
``available_at`` NULL, and only nodes that are up and not draining fill it in, with
``max(stopped_at, their own start)``: a node starting does so at once
(server/cluster/presence.py), and the sync-mismatch detector before each pass when it
runs on such a node (server/services/mismatch/detector.py). A row written after a
starting node's fill (a draining node's late commit, or a dead node's removal) is thus
filled before it is judged, and one written while every node is stopping stays NULL
until a node starts.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import device_connections, device_interruptions
from server.store.upsert import insert_for


async def record(conn: AsyncConnection, cuts: list[tuple[str, int]]) -> None:
    """Upsert (device id, stopped at) rows, not yet available: a device keeps its latest cut."""
    if not cuts:
        return
    stmt = insert_for(conn, device_interruptions)
    stmt = stmt.on_conflict_do_update(
        index_elements=[device_interruptions.c.device_id],
        set_={"stopped_at": stmt.excluded.stopped_at, "available_at": stmt.excluded.available_at},
        where=stmt.excluded.stopped_at >= device_interruptions.c.stopped_at,
    )
    await conn.execute(stmt, [{"device_id": d, "stopped_at": stopped, "available_at": None} for d, stopped in cuts])


async def record_node_connections(conn: AsyncConnection, node_ids: list[str], stopped_at: dict[str, int]) -> int:
    """Record every device connection still held by these nodes as cut at the node's stop."""
    if not node_ids:
        return 0
    rows = (
        await conn.execute(
            select(device_connections.c.device_id, device_connections.c.node_id).where(
                device_connections.c.node_id.in_(node_ids)
            )
        )
    ).all()
    await record(conn, [(row.device_id, stopped_at[row.node_id]) for row in rows])
    return len(rows)


async def any_unavailable(conn: AsyncConnection) -> bool:
    """Whether some interruption is not yet available (by the index on ``available_at``)."""
    query = select(device_interruptions.c.device_id).where(device_interruptions.c.available_at.is_(None)).limit(1)
    return (await conn.execute(query)).first() is not None


async def fill_available(conn: AsyncConnection, started_at: int) -> None:
    """A node that started at ``started_at`` is up and not stopping: every interruption
    nobody could take yet can reconnect to it from its start (or the stop, if later)."""
    await conn.execute(
        update(device_interruptions)
        .where(device_interruptions.c.available_at.is_(None))
        .values(
            available_at=case(
                (device_interruptions.c.stopped_at > started_at, device_interruptions.c.stopped_at),
                else_=literal(started_at, BigInteger),
            )
        )
    )
