"""The "delivered but not seen" pass and the seen-driven resolution of its alerts.

A pass (on the node running the sync-mismatch passes, right after each) raises an alert
for every change due one (:mod:`.candidates`) and resolves open alerts the carer has
since covered, or whose feed moved to another epoch (a reset: the change is gone). A
``seen`` recorded on any node resolves the carer's covered alerts at once
(:meth:`SeenAlerts.on_seen`), so the office sees the resolution live. An alert is covered
when the carer saw its change or a later change of the same visit.

Each pass reads only the visits something happened to since the detector's previous pass
(:mod:`.watermark`), and all of them now and then: the first pass, after a tenant's policy
changed, and every ``SEEN_FULL_PASS_INTERVAL_S``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.bus.base import Bus
from server.clock import Clock
from server.ids import new_id
from server.services import feeds
from server.services.mismatch import details
from server.services.seen_alerts import candidates, store, touched
from server.services.seen_alerts.watermark import Watermark
from server.store.database import Database
from server.store.schema import carer_seen, seen_alerts
from server.store.schema import feeds as feed_table
from server.tunables import SEEN_DETECTION_LOOKBACK_MS, SEEN_FULL_PASS_INTERVAL_S


@dataclass
class SeenPassReport:
    due: int = 0
    raised: int = 0
    resolved: int = 0
    full: bool = True
    """Whether the pass read every visit around now (False: what changed since the previous one)."""


class SeenAlerts:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.watermark = Watermark(SEEN_DETECTION_LOOKBACK_MS, int(SEEN_FULL_PASS_INTERVAL_S * 1000))

    async def run_once(self) -> SeenPassReport:
        now = self.clock.now_ms()
        report = SeenPassReport()
        async with self.db.read() as conn:
            policies = await touched.policies(conn)
            since = self.watermark.since(now, policies)
            visit_ids = None if since is None else await touched.visits_touched(conn, now, since, candidates.CHUNK)
            due = await candidates.due(conn, now, visit_ids)
            stale = await _covered(conn)
        report.due, report.full = len(due), visit_ids is None
        for alert_id in stale:
            report.resolved += await self._close(alert_id, "resolved", None)
        if due:
            async with self.db.write() as conn:
                at = {d.carer_id: (d.epoch, d.seq) for d in due}
                found = await details.devices_of_many(conn, at, now)
                views = [(d, store.build_view(d, new_id(), found[d.carer_id], now)) for d in due]
                appended = await store.raise_alerts(conn, views, now)
            await feeds.ring(self.bus, appended)
            report.raised = len(appended)
        self.watermark.passed(now, policies, full=report.full)
        return report

    async def on_seen(self, carer_id: str, epoch: int, seqs: list[int]) -> int:
        """Resolve the carer's open alerts a ``seen`` now covers; how many."""
        async with self.db.read() as conn:
            covered = await _covered(conn, carer_id)
        resolved = 0
        for alert_id in covered:
            resolved += await self._close(alert_id, "resolved", None)
        return resolved

    async def dismiss(self, alert_id: str, actor_id: str) -> bool:
        """Close an open alert by hand (audited); False if it is not an open one of these."""
        return await self._close(alert_id, "dismissed", actor_id) == 1

    async def _close(self, alert_id: str, status: str, actor_id: str | None) -> int:
        async with self.db.write() as conn:
            entry = await store.close_alert(conn, alert_id, status, actor_id, self.clock.now_ms())
        if entry is None:
            return 0
        await feeds.ring(self.bus, [entry])
        return 1


async def _covered(conn: AsyncConnection, carer_id: str | None = None) -> list[str]:
    """Open alerts (of one carer, or all) whose change, or a later one of the same visit,
    the carer has seen, or whose feed is now in another epoch."""
    seen_later = (
        select(carer_seen.c.seq)
        .where(
            carer_seen.c.carer_id == seen_alerts.c.carer_id,
            carer_seen.c.epoch == seen_alerts.c.epoch,
            carer_seen.c.visit_id == seen_alerts.c.visit_id,
            carer_seen.c.seq >= seen_alerts.c.seq,
        )
        .exists()
    )
    query = (
        select(seen_alerts.c.id)
        .join(feed_table, feed_table.c.carer_id == seen_alerts.c.carer_id)
        .where(seen_alerts.c.status == "open", or_(seen_later, and_(feed_table.c.epoch != seen_alerts.c.epoch)))
        .order_by(seen_alerts.c.raised_at)
    )
    if carer_id is not None:
        query = query.where(seen_alerts.c.carer_id == carer_id)
    return [r.id for r in await conn.execute(query)]
