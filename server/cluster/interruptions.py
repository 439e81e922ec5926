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

``available_at`` is the earliest moment after the stop at which some node was up: the
stop itself when another node was alive then, else the start of the first node since.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import device_connections, device_interruptions, nodes
from server.store.upsert import insert_for


async def earliest_live_start(conn: AsyncConnection, live_since_ms: int, exclude: list[str]) -> int | None:
    """The earliest start of a node seen alive at or after ``live_since_ms``, other than ``exclude``."""
    query = select(func.min(nodes.c.started_at)).where(nodes.c.last_seen_at >= live_since_ms)
    if exclude:
        query = query.where(nodes.c.id.not_in(exclude))
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else int(value)


def available_after(stopped_at: int, earliest_start: int | None) -> int | None:
    """When a device cut at ``stopped_at`` could reconnect, given the earliest start of the
    nodes still alive (None: no node yet, to be filled by the next one to start)."""
    return None if earliest_start is None else max(stopped_at, earliest_start)


async def record(conn: AsyncConnection, cuts: list[tuple[str, int, int | None]]) -> None:
    """Upsert (device id, stopped at, available at) rows: a device keeps its latest cut."""
    if not cuts:
        return
    stmt = insert_for(conn, device_interruptions)
    stmt = stmt.on_conflict_do_update(
        index_elements=[device_interruptions.c.device_id],
        set_={"stopped_at": stmt.excluded.stopped_at, "available_at": stmt.excluded.available_at},
        where=stmt.excluded.stopped_at >= device_interruptions.c.stopped_at,
    )
    await conn.execute(
        stmt, [{"device_id": d, "stopped_at": stopped, "available_at": available} for d, stopped, available in cuts]
    )


async def record_node_connections(
    conn: AsyncConnection, node_ids: list[str], stopped_at: dict[str, int], earliest_start: int | None
) -> int:
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
    cuts = []
    for row in rows:
        stopped = stopped_at[row.node_id]
        cuts.append((row.device_id, stopped, available_after(stopped, earliest_start)))
    await record(conn, cuts)
    return len(cuts)


async def fill_available(conn: AsyncConnection, now_ms: int) -> None:
    """A node has started: every interruption nobody could take until now can reconnect from now."""
    await conn.execute(
        update(device_interruptions).where(device_interruptions.c.available_at.is_(None)).values(available_at=now_ms)
    )
