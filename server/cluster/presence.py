"""Node liveness and which node holds each device's socket, shared through the database.

Connects and disconnects are buffered and written in one transaction per flush, so a
reconnect storm does not become one write per device. A node touches its row every
``touch_interval_s``; rows of nodes silent for three intervals count as dead, and the
once-per-cluster cleanup job removes them with their connections.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import DeviceConnected, DeviceDisconnected
from server.bus.base import Bus
from server.clock import Clock
from server.cluster import interruptions
from server.periodic import Periodic
from server.services import feeds
from server.services.console_feed import append_device_events
from server.store.database import Database
from server.store.schema import device_connections, nodes
from server.store.upsert import insert_for
from server.tunables import PRESENCE_TOUCH_INTERVAL_S as TOUCH_INTERVAL_S

DEAD_AFTER_MS = int(TOUCH_INTERVAL_S * 3 * 1000)


class Presence(Periodic):
    def __init__(self, db: Database, clock: Clock, node_id: str, flush_interval_s: float, bus: Bus) -> None:
        super().__init__(flush_interval_s, "presence")
        self.db = db
        self.bus = bus
        self.clock = clock
        self.node_id = node_id
        self._changes: dict[str, bool] = {}
        self._last_touch = 0
        self.started_at = 0
        self.draining: Callable[[], bool] = lambda: False
        """True once the node drains: the devices it disconnects then were cut by the server."""

    async def register(self) -> None:
        """Join the cluster. Connections a previous life under this id left behind (it was
        killed) are recorded as cut at its last touch, and every device that could not
        reconnect until now (server/cluster/interruptions.py) can from now."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            previous = (await conn.execute(select(nodes.c.last_seen_at).where(nodes.c.id == self.node_id))).first()
            stopped = int(previous.last_seen_at) if previous is not None else now
            await interruptions.record_node_connections(conn, [self.node_id], {self.node_id: stopped})
            await interruptions.fill_available(conn, now)
            await conn.execute(delete(device_connections).where(device_connections.c.node_id == self.node_id))
            await conn.execute(delete(nodes).where(nodes.c.id == self.node_id))
            await conn.execute(insert(nodes).values(id=self.node_id, started_at=now, last_seen_at=now))
        self.started_at = self._last_touch = now

    async def retire(self) -> None:
        """Leave the cluster; devices still connected (or disconnected by the drain but not
        yet written) are recorded as cut now, available once a node not stopping is up."""
        await super().stop()
        self._changes.clear()
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await interruptions.record_node_connections(conn, [self.node_id], {self.node_id: now})
            await conn.execute(delete(device_connections).where(device_connections.c.node_id == self.node_id))
            await conn.execute(delete(nodes).where(nodes.c.id == self.node_id))

    def available_from(self) -> int | None:
        """When this node could take a cut device: its start, while it runs and is not
        draining (None otherwise: it cannot vouch for anything)."""
        return self.started_at if self.started_at and not self.draining() else None

    def connected(self, device_id: str) -> None:
        self._changes[device_id] = True

    def disconnected(self, device_id: str) -> None:
        self._changes[device_id] = False

    async def step(self) -> None:
        now = self.clock.now_ms()
        if not self._changes and now - self._last_touch < TOUCH_INTERVAL_S * 1000:
            return
        changes, self._changes = self._changes, {}
        draining = self.draining()
        try:
            async with self.db.write() as conn:
                await conn.execute(update(nodes).where(nodes.c.id == self.node_id).values(last_seen_at=now))
                if draining:
                    await interruptions.record(conn, [(d, now) for d, up in changes.items() if not up])
                await _write_changes(conn, self.node_id, changes, now)
                events = await append_device_events(conn, [d for d, up in changes.items() if up], DeviceConnected, now)
                events += await append_device_events(
                    conn, [d for d, up in changes.items() if not up], DeviceDisconnected, now
                )
        except Exception:
            self._changes = {**changes, **self._changes}
            raise
        self._last_touch = now
        await feeds.ring(self.bus, events)


async def _write_changes(conn: AsyncConnection, node_id: str, changes: dict[str, bool], now: int) -> None:
    arrived = [{"device_id": d, "node_id": node_id, "connected_at": now} for d, up in changes.items() if up]
    left = [d for d, up in changes.items() if not up]
    if arrived:
        stmt = insert_for(conn, device_connections)
        stmt = stmt.on_conflict_do_update(
            index_elements=[device_connections.c.device_id],
            set_={"node_id": stmt.excluded.node_id, "connected_at": stmt.excluded.connected_at},
        )
        await conn.execute(stmt, arrived)
    if left:
        await conn.execute(
            delete(device_connections).where(
                device_connections.c.device_id.in_(left), device_connections.c.node_id == node_id
            )
        )


def live_node(now_ms: int) -> ColumnElement[bool]:
    """The condition on ``nodes`` that a node is alive (touched its row lately)."""
    return nodes.c.last_seen_at >= now_ms - DEAD_AFTER_MS


async def connected_devices(conn: AsyncConnection, device_ids: list[str], now_ms: int) -> dict[str, str]:
    """device id -> node id, for the given devices connected to a live node."""
    rows = await conn.execute(
        select(device_connections.c.device_id, device_connections.c.node_id)
        .join(nodes, nodes.c.id == device_connections.c.node_id)
        .where(device_connections.c.device_id.in_(device_ids), live_node(now_ms))
    )
    return {r.device_id: r.node_id for r in rows}


async def remove_dead_nodes(db: Database, now_ms: int) -> int:
    """The cleanup job: forget nodes silent for too long and the sockets they held, recording
    those devices as cut at the node's last touch (their acks may have died with it)."""
    async with db.read() as conn:
        if not (await conn.execute(select(nodes.c.id).where(nodes.c.last_seen_at < now_ms - DEAD_AFTER_MS))).first():
            return 0
    async with db.write() as conn:
        silent = await conn.execute(
            select(nodes.c.id, nodes.c.last_seen_at).where(nodes.c.last_seen_at < now_ms - DEAD_AFTER_MS)
        )
        dead = {r.id: int(r.last_seen_at) for r in silent}
        if dead:
            await interruptions.record_node_connections(conn, list(dead), dead)
            await conn.execute(delete(device_connections).where(device_connections.c.node_id.in_(list(dead))))
            await conn.execute(delete(nodes).where(and_(nodes.c.id.in_(list(dead)))))
    return len(dead)
