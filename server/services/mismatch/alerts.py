"""Sync-mismatch alerts: raised, updated, resolved and dismissed, with an audit trail and
a console event for each. Every method runs inside the caller's write transaction and
returns the console entries to ring after commit."""

from __future__ import annotations

import msgspec
from sqlalchemy import Row, Select, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import (
    AlertDismissed,
    AlertRaised,
    AlertResolved,
    AlertUpdated,
    AlertView,
)
from server.clock import to_datetime
from server.ids import new_id
from server.services import feeds
from server.services.console_feed import append_event, scope_of
from server.services.mismatch import details
from server.store.schema import alert_audit, mismatch_alerts, users
from server.store.upsert import insert_for

_view_decoder = msgspec.json.Decoder(AlertView)


def view_of(row: Row) -> AlertView:  # type: ignore[type-arg]
    """The alert as stored (details JSON) with the row's live status fields (and the
    closer's name, when the query joined it as ``closer_name``)."""
    stored = _view_decoder.decode(row.details)
    return msgspec.structs.replace(
        stored,
        status=row.status,
        closed_at=None if row.closed_at is None else to_datetime(row.closed_at),
        closed_by=row.closed_by,
        closed_by_name=row._mapping.get("closer_name"),
        updated_at=to_datetime(row.updated_at),
    )


def with_closer(query: Select) -> Select:  # type: ignore[type-arg]
    """``query`` over mismatch_alerts, joined with the name of the user who closed each."""
    return query.add_columns(users.c.name.label("closer_name")).outerjoin(
        users, users.c.id == mismatch_alerts.c.closed_by
    )


async def build_view(
    conn: AsyncConnection,
    *,
    alert_id: str,
    carer_id: str,
    carer_name: str,
    branch_id: str | None,
    epoch: int,
    first_unacked_seq: int,
    head_seq: int,
    raised_at: int,
    now_ms: int,
) -> AlertView:
    found = await details.devices_of(conn, carer_id, epoch, head_seq, now_ms)
    diagnosis = details.diagnose(found)
    visits = await details.affected_visits(conn, carer_id, epoch, first_unacked_seq)
    severity, earliest, minutes = details.urgency(visits, now_ms)
    return AlertView(
        id=alert_id,
        carer_id=carer_id,
        carer_name=carer_name,
        branch_id=branch_id,
        status="open",
        severity=severity,
        diagnosis=diagnosis,
        raised_at=to_datetime(raised_at),
        updated_at=to_datetime(now_ms),
        closed_at=None,
        closed_by=None,
        first_unacked_seq=first_unacked_seq,
        head_seq=head_seq,
        earliest_start=None if earliest is None else to_datetime(earliest),
        minutes_until_start=minutes,
        devices=found,
        visits=visits,
        action=details.advice(carer_name, diagnosis),
    )


def change_key(view: AlertView) -> tuple[object, ...]:
    """What makes an update worth telling the office about (not the ticking minutes)."""
    return (view.head_seq, view.severity, view.diagnosis, tuple((d.device_id, d.state) for d in view.devices))


async def raise_alert(
    conn: AsyncConnection, tenant_id: str, view: AlertView, epoch: int, now_ms: int
) -> feeds.Appended | None:
    """Insert the open alert unless the carer already has one (the partial unique index
    decides, so two detectors on two nodes cannot both raise it)."""
    created = await conn.execute(
        insert_for(conn, mismatch_alerts)
        .values(
            id=view.id,
            tenant_id=tenant_id,
            branch_id=view.branch_id,
            carer_id=view.carer_id,
            status="open",
            epoch=epoch,
            first_unacked_seq=view.first_unacked_seq,
            head_seq=view.head_seq,
            severity=view.severity,
            raised_at=now_ms,
            updated_at=now_ms,
            details=msgspec.json.encode(view).decode(),
        )
        .on_conflict_do_nothing(index_elements=[mismatch_alerts.c.carer_id], index_where=text("status = 'open'"))
    )
    if not created.rowcount:
        return None
    await _audit(conn, view.id, "raised", None, now_ms)
    return await append_event(conn, tenant_id, scope_of(tenant_id, view.branch_id), AlertRaised(alert=view), now_ms)


async def update_alert(conn: AsyncConnection, tenant_id: str, view: AlertView, now_ms: int) -> feeds.Appended | None:
    changed = await conn.execute(
        update(mismatch_alerts)
        .where(mismatch_alerts.c.id == view.id, mismatch_alerts.c.status == "open")
        .values(
            head_seq=view.head_seq,
            severity=view.severity,
            updated_at=now_ms,
            details=msgspec.json.encode(view).decode(),
        )
    )
    if not changed.rowcount:
        return None
    await _audit(conn, view.id, "updated", None, now_ms)
    return await append_event(conn, tenant_id, scope_of(tenant_id, view.branch_id), AlertUpdated(alert=view), now_ms)


async def touch_alert(conn: AsyncConnection, alert_id: str, now_ms: int) -> None:
    """Record that an unchanged alert was re-checked (no event, no audit entry)."""
    await conn.execute(update(mismatch_alerts).where(mismatch_alerts.c.id == alert_id).values(updated_at=now_ms))


async def close_alert(
    conn: AsyncConnection, alert_id: str, status: str, actor_id: str | None, now_ms: int
) -> feeds.Appended | None:
    """Resolve (``actor_id`` None) or dismiss an open alert; None if it was not open."""
    closed = await conn.execute(
        update(mismatch_alerts)
        .where(mismatch_alerts.c.id == alert_id, mismatch_alerts.c.status == "open")
        .values(status=status, closed_at=now_ms, closed_by=actor_id, updated_at=now_ms)
    )
    if not closed.rowcount:
        return None
    row = (await conn.execute(with_closer(select(mismatch_alerts)).where(mismatch_alerts.c.id == alert_id))).one()
    await _audit(conn, alert_id, status, actor_id, now_ms)
    view = view_of(row)
    event = AlertResolved(alert=view) if status == "resolved" else AlertDismissed(alert=view)
    return await append_event(conn, row.tenant_id, scope_of(row.tenant_id, row.branch_id), event, now_ms)


async def _audit(conn: AsyncConnection, alert_id: str, action: str, actor_id: str | None, now_ms: int) -> None:
    await conn.execute(
        insert(alert_audit).values(id=new_id(), alert_id=alert_id, at=now_ms, action=action, actor_id=actor_id)
    )
