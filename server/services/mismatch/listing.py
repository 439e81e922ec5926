"""Reading alerts for the office: filtered, branch-scoped, most urgent first. Every kind:
sync mismatches, "delivered but not seen" (``diagnosis`` ``not_seen``,
:mod:`server.services.seen_alerts`) and late visits (``no_check_in``,
:mod:`server.services.visit_alerts`), each kept in its own table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, or_, select

from protocol.console import AlertView
from server.clock import Clock
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.identity import Staff
from server.services.mismatch.alerts import view_of, with_closer
from server.services.mismatch.detector import MismatchDetector
from server.services.seen_alerts import store as seen_store
from server.services.seen_alerts.detector import SeenAlerts
from server.services.visit_alerts import store as visit_store
from server.services.visit_alerts.detector import LateVisits
from server.store.database import Database
from server.store.schema import mismatch_alerts, seen_alerts, visit_alerts
from server.tunables import ALERTS_MAX_LIMIT as MAX_LIMIT
from server.tunables import RECENT_ALERTS_MS as RECENT_MS

STATUSES = ("open", "recent", "all")
SEVERITIES = ("high", "normal")


@dataclass(frozen=True)
class AlertFilter:
    status: str = "open"
    branch_id: str | None = None
    severity: str | None = None
    carer_id: str | None = None
    limit: int = 100

    def check(self) -> None:
        if self.status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}")


class AlertDesk:
    """The office's view of alerts: list them, dismiss one (the X)."""

    def __init__(self, db: Database, clock: Clock, detector: MismatchDetector) -> None:
        self.db = db
        self.clock = clock
        self.detector = detector

    async def list(self, staff: Staff, wanted: AlertFilter) -> list[AlertView]:
        wanted.check()
        views: list[AlertView] = []
        async with self.db.read() as conn:
            for table, closer in _KINDS:
                query = self._filtered(closer(select(table)), table, staff, wanted)
                views.extend(view_of(r) for r in await conn.execute(query))
        views.sort(key=lambda v: v.raised_at, reverse=True)
        return sorted(views[: wanted.limit], key=_urgency_order)

    def _filtered(self, query: Select[Any], table: Table, staff: Staff, wanted: AlertFilter) -> Select[Any]:
        query = query.where(table.c.tenant_id == staff.tenant_id)
        branch = staff.scope_branch(wanted.branch_id)
        if branch is not None:
            query = query.where(table.c.branch_id == branch)
        if wanted.severity is not None:
            query = query.where(table.c.severity == wanted.severity)
        if wanted.carer_id is not None:
            query = query.where(table.c.carer_id == wanted.carer_id)
        if wanted.status == "open":
            query = query.where(table.c.status == "open")
        elif wanted.status == "recent":
            since = self.clock.now_ms() - RECENT_MS
            query = query.where(or_(table.c.status == "open", table.c.closed_at >= since))
        return query.order_by(table.c.raised_at.desc()).limit(wanted.limit)

    async def get(self, staff: Staff, alert_id: str) -> AlertView:
        async with self.db.read() as conn:
            for table, closer in _KINDS:
                query = closer(select(table)).where(table.c.id == alert_id, table.c.tenant_id == staff.tenant_id)
                row = (await conn.execute(query)).first()
                if row is not None:
                    break
        if row is None:
            raise NotFound(f"alert {alert_id} not found")
        if row.branch_id is not None:
            staff.require_branch(row.branch_id)
        elif staff.role != "admin":
            raise NotFound(f"alert {alert_id} not found")
        return view_of(row)

    async def dismiss(self, staff: Staff, alert_id: str) -> AlertView:
        current = await self.get(staff, alert_id)
        if current.diagnosis == "not_seen":
            dismissed = await SeenAlerts(self.db, self.detector.bus, self.clock).dismiss(alert_id, staff.user_id)
        elif current.diagnosis == "no_check_in":
            dismissed = await LateVisits(self.db, self.detector.bus, self.clock).dismiss(alert_id, staff.user_id)
        else:
            dismissed = await self.detector.dismiss(alert_id, staff.user_id)
        if current.status != "open" or not dismissed:
            raise Conflict(f"alert {alert_id} is already {current.status}")
        return await self.get(staff, alert_id)


_KINDS: tuple[tuple[Table, Callable[[Select[Any]], Select[Any]]], ...] = (
    (mismatch_alerts, with_closer),
    (seen_alerts, seen_store.with_closer),
    (visit_alerts, visit_store.with_closer),
)
"""Each kind of alert's table and the join naming who closed one."""


def _urgency_order(view: AlertView) -> tuple[object, ...]:
    """Open before closed, high severity first, soonest visit first, newest first."""
    soonest = view.minutes_until_start if view.minutes_until_start is not None else 10**9
    return (view.status != "open", view.severity != "high", soonest, -view.raised_at.timestamp())
