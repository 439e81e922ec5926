"""Reading alerts for the office: filtered, branch-scoped, most urgent first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from protocol.console import AlertView
from server.clock import Clock
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.identity import Staff
from server.services.mismatch.alerts import view_of, with_closer
from server.services.mismatch.detector import MismatchDetector
from server.store.database import Database
from server.store.schema import mismatch_alerts
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
        query = with_closer(select(mismatch_alerts)).where(mismatch_alerts.c.tenant_id == staff.tenant_id)
        branch = staff.scope_branch(wanted.branch_id)
        if branch is not None:
            query = query.where(mismatch_alerts.c.branch_id == branch)
        if wanted.severity is not None:
            query = query.where(mismatch_alerts.c.severity == wanted.severity)
        if wanted.carer_id is not None:
            query = query.where(mismatch_alerts.c.carer_id == wanted.carer_id)
        if wanted.status == "open":
            query = query.where(mismatch_alerts.c.status == "open")
        elif wanted.status == "recent":
            since = self.clock.now_ms() - RECENT_MS
            query = query.where(or_(mismatch_alerts.c.status == "open", mismatch_alerts.c.closed_at >= since))
        query = query.order_by(mismatch_alerts.c.raised_at.desc()).limit(wanted.limit)
        async with self.db.read() as conn:
            views = [view_of(r) for r in await conn.execute(query)]
        return sorted(views, key=_urgency_order)

    async def get(self, staff: Staff, alert_id: str) -> AlertView:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    with_closer(select(mismatch_alerts)).where(
                        mismatch_alerts.c.id == alert_id, mismatch_alerts.c.tenant_id == staff.tenant_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} not found")
        if row.branch_id is not None:
            staff.require_branch(row.branch_id)
        elif staff.role != "admin":
            raise NotFound(f"alert {alert_id} not found")
        return view_of(row)

    async def dismiss(self, staff: Staff, alert_id: str) -> AlertView:
        current = await self.get(staff, alert_id)
        if current.status != "open" or not await self.detector.dismiss(alert_id, staff.user_id):
            raise Conflict(f"alert {alert_id} is already {current.status}")
        return await self.get(staff, alert_id)


def _urgency_order(view: AlertView) -> tuple[object, ...]:
    """Open before closed, high severity first, soonest visit first, newest first."""
    soonest = view.minutes_until_start if view.minutes_until_start is not None else 10**9
    return (view.status != "open", view.severity != "high", soonest, -view.raised_at.timestamp())
