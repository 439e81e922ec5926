"""The detection pass and the ack-driven resolution of sync-mismatch alerts.

A pass (once per cluster, on the lease holder, every ``interval``) finds carers whose
oldest unacknowledged change is older than the tenant's grace period, raises or updates
one alert per carer, and resolves alerts that acks have covered. Acks also resolve alerts
directly as they are flushed, so the office sees a resolution within a flush interval.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import acked_in, alert_resolved, covers, same_epoch
from server.bus.base import Bus
from server.clock import Clock
from server.cluster import interruptions
from server.ids import new_id
from server.services import feeds
from server.services.mismatch import acks_view, alerts
from server.store.database import Database
from server.store.schema import mismatch_alerts
from server.tunables import ALERT_REFRESH_AFTER_MS as REFRESH_AFTER_MS


@dataclass
class PassReport:
    overdue: int = 0
    raised: int = 0
    updated: int = 0
    resolved: int = 0


class MismatchDetector:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        *,
        available_from: Callable[[], int | None] = lambda: None,
        remove_dead_nodes: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.available_from = available_from
        """The start of the node running the passes while it is up and not draining
        (``Presence.available_from``): cuts nobody could take yet can reconnect from then."""
        self.remove_dead_nodes = remove_dead_nodes or _judges_nobody
        """The cleanup job on behalf of the node running the passes
        (``Presence.remove_dead_nodes``); a detector on no node judges no node dead."""

    async def run_once(self) -> PassReport:
        now = self.clock.now_ms()
        report = PassReport()
        # A node that died since the last cleanup: record its devices as cut before judging them.
        await self.remove_dead_nodes()
        await self._fill_unavailable()
        async with self.db.read() as conn:
            overdue = await acks_view.overdue_carers(conn, now)
            open_rows = {r.carer_id: r for r in await conn.execute(_open_alerts())}
            names = await acks_view.carer_names(conn, [o.carer_id for o in overdue])
            dismissed = await _last_dismissed(conn, [o.carer_id for o in overdue if o.carer_id not in open_rows])
        report.overdue = len(overdue)
        to_raise: list[tuple[acks_view.Overdue, alerts.Draft]] = []
        for o in overdue:
            name, branch_id = names[o.carer_id]
            current = open_rows.pop(o.carer_id, None)
            if current is not None and same_epoch(current.epoch, o.epoch):
                if await self._refresh(current, o, name, branch_id, now):
                    report.updated += 1
                continue
            if current is not None:
                report.resolved += await self._close(current.id, now)
            first = await self._first_reportable(o, dismissed.get(o.carer_id), now)
            if first is not None:
                draft = alerts.Draft(new_id(), o.carer_id, name, branch_id, o.epoch, first, o.head_seq, now)
                to_raise.append((o, draft))
        report.raised = await self._raise_all(to_raise, now)
        if open_rows:
            report.resolved += await self.resolve_covered(list(open_rows))
        return report

    async def _fill_unavailable(self) -> None:
        """Cuts still waiting for a node to take them (recorded while no node not itself
        stopping was seen, or committed after a starting node filled the others) can
        reconnect to this one: judged from NULL they would be held back for good."""
        since = self.available_from()
        if since is None:
            return
        async with self.db.read() as conn:
            if not await interruptions.any_unavailable(conn):
                return
        async with self.db.write() as conn:
            await interruptions.fill_available(conn, since)

    async def resolve_covered(self, carer_ids: list[str]) -> int:
        """Resolve open alerts of these carers that acks now cover (or whose feed was reset)."""
        if not carer_ids:
            return 0
        now = self.clock.now_ms()
        async with self.db.read() as conn:
            rows = (await conn.execute(_open_alerts().where(mismatch_alerts.c.carer_id.in_(carer_ids)))).all()
            if not rows:
                return 0
            positions = await acks_view.acked_positions(conn, [r.carer_id for r in rows])
        resolved = 0
        for row in rows:
            epoch, _head, acked = positions.get(row.carer_id, (row.epoch, 0, 0))
            if alert_resolved(epoch, acked, row.epoch, row.head_seq):
                resolved += await self._close(row.id, now)
        return resolved

    async def dismiss(self, alert_id: str, actor_id: str) -> bool:
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            entry = await alerts.close_alert(conn, alert_id, "dismissed", actor_id, now)
        await self._ring(entry)
        return entry is not None

    async def _first_reportable(self, o: acks_view.Overdue, dismissed: tuple[int, int] | None, now: int) -> int | None:
        """The first unacked seq to report, skipping what a coordinator already dismissed."""
        first = o.acked_seq + 1
        if dismissed is None or not covers(acked_in(o.epoch, *dismissed), first):
            return first
        dismissed_head = dismissed[1]
        if covers(dismissed_head, o.head_seq):
            return None
        async with self.db.read() as conn:
            committed = await acks_view.entry_time(conn, o.carer_id, o.epoch, dismissed_head + 1)
        if committed is None or committed > now - o.grace_ms:
            return None
        return dismissed_head + 1

    async def _raise_all(self, to_raise: list[tuple[acks_view.Overdue, alerts.Draft]], now: int) -> int:
        """Raise every new alert of a pass in one transaction: a mass event (a thousand
        carers falling behind at once) costs a handful of statements, not eight per alert."""
        if not to_raise:
            return 0
        async with self.db.write() as conn:
            views = await alerts.build_views(conn, [draft for _o, draft in to_raise], now)
            raised = [(o.tenant_id, o.epoch, view) for (o, _draft), view in zip(to_raise, views, strict=True)]
            appended = await alerts.raise_alerts(conn, raised, now)
        await feeds.ring(self.bus, appended)
        return len(appended)

    async def _refresh(self, row: object, o: acks_view.Overdue, name: str, branch_id: str | None, now: int) -> bool:
        """Update an open alert when its range moved, or (at most once a minute) to catch
        device-state changes; a pass over unchanged alerts then costs no queries."""
        stored = alerts.view_of(row)  # type: ignore[arg-type]
        moved = (stored.head_seq, stored.first_unacked_seq) != (o.head_seq, o.acked_seq + 1)
        if not moved and now - stored.updated_at.timestamp() * 1000 < REFRESH_AFTER_MS:
            return False
        async with self.db.write() as conn:
            view = await alerts.build_view(
                conn,
                alert_id=stored.id,
                carer_id=o.carer_id,
                carer_name=name,
                branch_id=branch_id,
                epoch=o.epoch,
                first_unacked_seq=o.acked_seq + 1,
                head_seq=o.head_seq,
                raised_at=int(stored.raised_at.timestamp() * 1000),
                now_ms=now,
            )
            if alerts.change_key(view) == alerts.change_key(stored):
                await alerts.touch_alert(conn, stored.id, now)
                return False
            entry = await alerts.update_alert(conn, o.tenant_id, view, now)
        await self._ring(entry)
        return entry is not None

    async def _close(self, alert_id: str, now: int) -> int:
        async with self.db.write() as conn:
            entry = await alerts.close_alert(conn, alert_id, "resolved", None, now)
        await self._ring(entry)
        return 1 if entry is not None else 0

    async def _ring(self, entry: feeds.Appended | None) -> None:
        if entry is not None:
            await feeds.ring(self.bus, [entry])


def _open_alerts() -> Select[Any]:
    return select(mismatch_alerts).where(mismatch_alerts.c.status == "open")


async def _last_dismissed(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[int, int]]:
    """carer id -> (epoch, head seq) of their latest closed alert, if a person dismissed it.

    A resolved latest alert returns nothing: whatever goes unacked after it is new.
    """
    if not carer_ids:
        return {}
    rows = await conn.execute(
        select(
            mismatch_alerts.c.carer_id, mismatch_alerts.c.status, mismatch_alerts.c.epoch, mismatch_alerts.c.head_seq
        )
        .where(acks_view.among(conn, mismatch_alerts.c.carer_id, carer_ids), mismatch_alerts.c.status != "open")
        .order_by(mismatch_alerts.c.closed_at)
    )
    latest = {r.carer_id: r for r in rows}
    return {carer: (r.epoch, r.head_seq) for carer, r in latest.items() if r.status == "dismissed"}


async def _judges_nobody() -> int:
    return 0
