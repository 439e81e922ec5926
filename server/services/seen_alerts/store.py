"""What a "delivered but not seen" alert (``diagnosis`` ``not_seen``) says, and its rows
(:mod:`server.services.alert_rows`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import AlertDevice, AlertView, AlertVisit
from server.clock import to_datetime
from server.services import alert_rows, feeds
from server.services.alert_rows import AlertKind, row_of
from server.services.mismatch import details
from server.services.seen_alerts.candidates import Due
from server.store.schema import seen_alert_audit, seen_alerts


def build_view(due: Due, alert_id: str, found: list[AlertDevice], now_ms: int) -> AlertView:
    visit = AlertVisit(
        visit_id=due.visit_id,
        client_name=due.client_name,
        starts_at=to_datetime(due.starts_at),
        ends_at=to_datetime(due.ends_at),
        status=due.status,
        change=due.summary or "changed",
        seq=due.seq,
    )
    severity, earliest, minutes = details.urgency([visit], now_ms)
    return AlertView(
        id=alert_id,
        carer_id=due.carer_id,
        carer_name=due.carer_name,
        branch_id=due.branch_id,
        status="open",
        severity=severity,
        diagnosis="not_seen",
        raised_at=to_datetime(now_ms),
        updated_at=to_datetime(now_ms),
        closed_at=None,
        closed_by=None,
        first_unacked_seq=due.seq,
        head_seq=due.seq,
        earliest_start=None if earliest is None else to_datetime(earliest),
        minutes_until_start=minutes,
        devices=found,
        visits=[visit],
        action=(
            f"{due.carer_name}'s phone holds the change to {due.client_name}'s visit, but "
            f"{due.carer_name} has not seen it: phone {due.carer_name} to make sure they know."
        ),
    )


KIND = AlertKind(seen_alerts, seen_alert_audit, ("carer_id", "epoch", "seq"))


async def raise_alerts(conn: AsyncConnection, raised: list[tuple[Due, AlertView]], now_ms: int) -> list[feeds.Appended]:
    """Insert the alerts (a change alerted before, by any detector, is skipped), their
    audit rows and one batch of console events per scope."""
    rows = [
        (row_of(due.tenant_id, view, now_ms, visit_id=due.visit_id, epoch=due.epoch, seq=due.seq), view)
        for due, view in raised
    ]
    return await alert_rows.raise_alerts(conn, KIND, rows, now_ms)


async def close_alert(
    conn: AsyncConnection, alert_id: str, status: str, actor_id: str | None, now_ms: int
) -> feeds.Appended | None:
    """Resolve (``actor_id`` None) or dismiss an open alert; None if it was not open."""
    return await alert_rows.close_alert(conn, KIND, alert_id, status, actor_id, now_ms)


with_closer = KIND.with_closer()
"""``query`` over seen_alerts, joined with the name of the user who closed each."""
