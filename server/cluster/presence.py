"""Node liveness and which node holds each device's socket, shared through the database.

Connects and disconnects are buffered and written in one transaction per flush, so a
reconnect storm does not become one write per device. A node touches its row every
``touch_interval_s`` (``--presence-interval``); rows of nodes silent for three intervals
count as dead, and the once-per-cluster cleanup job (server/cluster/dead_nodes.py)
removes them with their connections.

A node that could not reach the database for longer than that may find its row removed
when it comes back, though it never stopped and its sockets stayed up. Its touch then
updates no row, and it joins again: the row is inserted and every socket it holds is
written back, so the reports count them again within one touch interval. The devices the
cleanup recorded as cut (server/cluster/interruptions.py) stay recorded: their acks could
not reach the store while the node was cut off, which is what a cut means to the
sync-mismatch detector.

A node judges others dead only on evidence it could have seen: never itself, and only once
its own touches have succeeded for a whole dead-node timeout since they last failed. When
the database comes back after an outage, every node's row is old; the others are not dead,
they are just as late to touch as this one (and back off between retries).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import DeviceConnected, DeviceDisconnected
from server.bus.base import Bus
from server.clock import Clock
from server.cluster import dead_nodes, interruptions
from server.periodic import Periodic
from server.services import feeds
from server.services.console_feed import append_device_events
from server.store.database import Database
from server.store.schema import device_connections, nodes
from server.store.upsert import insert_for
from server.tunables import PRESENCE_TOUCH_INTERVAL_S

log = logging.getLogger(__name__)

MISSED_TOUCHES = 3
"""Touches a node may miss before it counts as dead."""
DEAD_AFTER_MS = int(PRESENCE_TOUCH_INTERVAL_S * MISSED_TOUCHES * 1000)
"""The longest a live node stays silent (at the longest touch interval): after it, the
sockets of a node no longer count as connected in reports and alerts."""


class Presence(Periodic):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        node_id: str,
        flush_interval_s: float,
        bus: Bus,
        touch_interval_s: float = PRESENCE_TOUCH_INTERVAL_S,
    ) -> None:
        super().__init__(flush_interval_s, "presence")
        self.db = db
        self.bus = bus
        self.clock = clock
        self.node_id = node_id
        self.touch_interval_ms = int(touch_interval_s * 1000)
        self.dead_after_ms = self.touch_interval_ms * MISSED_TOUCHES
        """Silence after which this node counts another one as dead."""
        self._changes: dict[str, bool] = {}
        self._held: dict[str, int] = {}
        """Sockets this node holds whose connection is written: device id -> connected at."""
        self._last_touch = 0
        self._touching_since: int | None = None
        """Since when this node's writes have not failed (None while they fail)."""
        self._writing = asyncio.Lock()
        """Held by the step writing: another waits for it, so a step returns only once the
        changes noted before it was called are written."""
        self.started_at = 0
        self.draining = False
        """True once the node drains (set by the drain): the devices it disconnects then were
        cut by the server, and it vouches for no availability any more."""

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
        self._touching_since = 0  # a node that just started has not been cut off from anything

    async def retire(self) -> None:
        """Leave the cluster; devices still connected (or disconnected by the drain but not
        yet written) are recorded as cut now, available once a node not stopping is up."""
        await super().stop()
        self._changes.clear()
        self._held.clear()
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await interruptions.record_node_connections(conn, [self.node_id], {self.node_id: now})
            await conn.execute(delete(device_connections).where(device_connections.c.node_id == self.node_id))
            await conn.execute(delete(nodes).where(nodes.c.id == self.node_id))

    def available_from(self) -> int | None:
        """When this node could take a cut device: its start, while it runs and is not
        draining (None otherwise: it cannot vouch for anything)."""
        return self.started_at if self.started_at and not self.draining else None

    def connected(self, device_id: str) -> None:
        self._changes[device_id] = True

    def disconnected(self, device_id: str) -> None:
        self._changes[device_id] = False

    def can_judge_others(self, now_ms: int) -> bool:
        """Whether this node's writes have succeeded for a whole dead-node timeout: only then
        is another node's silence evidence of its death rather than of this node's outage."""
        return self._touching_since is not None and self._touching_since <= now_ms - self.dead_after_ms

    async def remove_dead_nodes(self) -> int:
        """The cleanup job, on this node's evidence: nodes silent for the dead-node timeout,
        never this one, and none while this node's own view is stale."""
        now = self.clock.now_ms()
        if not self.can_judge_others(now):
            return 0
        return await dead_nodes.remove_dead_nodes(self.db, now, self.dead_after_ms, spare=self.node_id)

    async def stop(self) -> None:
        """Stop the background steps (:class:`Periodic` lets the loop's running step finish);
        a step started elsewhere that is writing finishes too."""
        await super().stop()
        async with self._writing:
            pass

    async def step(self) -> None:
        """Write the connections that changed (and touch this node's row when due); returns
        once they are written, waiting for a step already writing."""
        async with self._writing:
            await self._step_unlocked()

    async def _step_unlocked(self) -> None:
        now = self.clock.now_ms()
        if not self._changes and now - self._last_touch < self.touch_interval_ms:
            return
        changes, self._changes = self._changes, {}
        draining = self.draining
        try:
            async with self.db.write() as conn:
                rejoined = not await _touch(conn, self.node_id, now)
                if rejoined:
                    await _rejoin(conn, self.node_id, self.started_at, now, self._held)
                if draining:
                    await interruptions.record(conn, [(d, now) for d, up in changes.items() if not up])
                await _write_changes(conn, self.node_id, changes, now)
                events = await append_device_events(conn, [d for d, up in changes.items() if up], DeviceConnected, now)
                events += await append_device_events(
                    conn, [d for d, up in changes.items() if not up], DeviceDisconnected, now
                )
        except BaseException:  # a failed write, or a cancelled one: the changes wait for the next
            self._changes = {**changes, **self._changes}
            self._touching_since = None
            raise
        self._wrote(changes, now)
        if rejoined:
            log.warning(
                "this node's row was removed while it could not write it; joined the cluster again "
                "with the %d device connection(s) it holds",
                len(self._held),
            )
        await feeds.ring(self.bus, events)

    def _wrote(self, changes: dict[str, bool], now: int) -> None:
        for device_id, up in changes.items():
            if up:
                self._held[device_id] = now
            else:
                self._held.pop(device_id, None)
        self._last_touch = now
        if self._touching_since is None:
            self._touching_since = now


async def _touch(conn: AsyncConnection, node_id: str, now: int) -> bool:
    """Mark this node alive; False when its row is gone (removed as dead)."""
    touched = await conn.execute(update(nodes).where(nodes.c.id == node_id).values(last_seen_at=now))
    return bool(touched.rowcount)


async def _rejoin(conn: AsyncConnection, node_id: str, started_at: int, now: int, held: dict[str, int]) -> None:
    """Insert this node's row again and write back every connection it holds. A device that
    meanwhile connected to another node is written there by that node's own flush, which
    takes the row over; a stale one here is replaced at once by the next connect."""
    await conn.execute(insert(nodes).values(id=node_id, started_at=started_at or now, last_seen_at=now))
    if not held:
        return
    stmt = insert_for(conn, device_connections)
    stmt = stmt.on_conflict_do_update(
        index_elements=[device_connections.c.device_id],
        set_={"node_id": stmt.excluded.node_id, "connected_at": stmt.excluded.connected_at},
    )
    await conn.execute(stmt, [{"device_id": d, "node_id": node_id, "connected_at": at} for d, at in held.items()])


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
