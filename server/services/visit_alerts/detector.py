"""The late-visit pass and the check-in-driven resolution of its alerts.

A pass (once per cluster, with the "delivered but not seen" pass) raises an alert for every
visit with no check-in by its start plus the tenant's grace, and resolves open ones whose
visit got a check-in or was cancelled since. A check-in uploaded to any node resolves the
visit's alert at once (:meth:`LateVisits.on_check_in`), live on the console.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.bus.base import Bus
from server.clock import Clock
from server.ids import new_id
from server.services import feeds
from server.services.mismatch import details
from server.services.seen_history import latest_seen
from server.services.visit_alerts import candidates, store
from server.services.visit_delivery import delivery
from server.store.database import Database
from server.store.schema import care_records, visit_alerts, visits
from server.store.schema import feeds as feed_table


@dataclass
class LatePassReport:
    raised: int = 0
    resolved: int = 0


class LateVisits:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock

    async def run_once(self) -> LatePassReport:
        now = self.clock.now_ms()
        report = LatePassReport()
        async with self.db.read() as conn:
            late = await candidates.due(conn, now)
            settled = await _settled(conn)
        for alert_id in settled:
            report.resolved += await self._close(alert_id, "resolved", None)
        if late:
            async with self.db.write() as conn:
                pairs = [(v.visit_id, carer_id) for v in late for carer_id, _name in v.carers]
                carers = sorted({carer for _visit, carer in pairs})
                heads = {
                    r.carer_id: (r.epoch, r.head_seq)
                    for r in await conn.execute(select(feed_table).where(feed_table.c.carer_id.in_(carers)))
                }
                found = await details.devices_of_many(conn, heads, now)
                delivered = await delivery(conn, pairs)
                latest = await latest_seen(conn, pairs)
                views = [(v, store.build_view(v, new_id(), found, delivered, latest, now)) for v in late]
                appended = await store.raise_alerts(conn, views, now)
            await feeds.ring(self.bus, appended)
            report.raised = len(appended)
        return report

    async def on_check_in(self, visit_ids: list[str]) -> int:
        """Resolve the open alerts of these visits (a check-in was just stored); how many."""
        if not visit_ids:
            return 0
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(visit_alerts.c.id).where(visit_alerts.c.visit_id.in_(visit_ids), visit_alerts.c.status == "open")
            )
            open_ids = [r.id for r in rows]
        resolved = 0
        for alert_id in open_ids:
            resolved += await self._close(alert_id, "resolved", None)
        return resolved

    async def dismiss(self, alert_id: str, actor_id: str) -> bool:
        return await self._close(alert_id, "dismissed", actor_id) == 1

    async def _close(self, alert_id: str, status: str, actor_id: str | None) -> int:
        async with self.db.write() as conn:
            entry = await store.close_alert(conn, alert_id, status, actor_id, self.clock.now_ms())
        if entry is None:
            return 0
        await feeds.ring(self.bus, [entry])
        return 1


async def _settled(conn: AsyncConnection) -> list[str]:
    """Open alerts whose visit has a check-in now, or was cancelled."""
    checked_in = (
        select(care_records.c.id)
        .where(care_records.c.visit_id == visit_alerts.c.visit_id, care_records.c.kind == "check_in")
        .exists()
    )
    query = (
        select(visit_alerts.c.id)
        .join(visits, visits.c.id == visit_alerts.c.visit_id)
        .where(visit_alerts.c.status == "open", or_(checked_in, visits.c.status == "cancelled"))
        .order_by(visit_alerts.c.raised_at)
    )
    return [r.id for r in await conn.execute(query)]
