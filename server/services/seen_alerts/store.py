""" "Delivered but not seen" alerts in the store: raised, resolved and dismissed, each with
an audit row and a console event (the same ``alert_*`` events and card as sync-mismatch
alerts, ``diagnosis`` ``not_seen``). Every function runs inside the caller's write
transaction and returns the console entries to ring after commit."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import AlertDevice, AlertDismissed, AlertRaised, AlertResolved, AlertView, AlertVisit
from server.clock import to_datetime
from server.ids import new_id
from server.services import feeds
from server.services.console_feed import append_events, scope_of
from server.services.mismatch import details
from server.services.mismatch.alerts import view_of
from server.services.seen_alerts.candidates import Due
from server.store.schema import seen_alert_audit, seen_alerts, users
from server.store.upsert import insert_for


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


async def raise_alerts(conn: AsyncConnection, raised: list[tuple[Due, AlertView]], now_ms: int) -> list[feeds.Appended]:
    """Insert the alerts (a change alerted before, by any detector, is skipped), their
    audit rows and one batch of console events per scope."""
    if not raised:
        return []
    rows = [
        {
            "id": view.id,
            "tenant_id": due.tenant_id,
            "branch_id": due.branch_id,
            "carer_id": due.carer_id,
            "visit_id": due.visit_id,
            "epoch": due.epoch,
            "seq": due.seq,
            "status": "open",
            "severity": view.severity,
            "raised_at": now_ms,
            "updated_at": now_ms,
            "closed_at": None,
            "closed_by": None,
            "details": msgspec.json.encode(view).decode(),
        }
        for due, view in raised
    ]
    created: set[str] = set()
    for row in rows:
        stmt = (
            insert_for(conn, seen_alerts)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["carer_id", "epoch", "seq"])
            .returning(seen_alerts.c.id)
        )
        created.update(r.id for r in await conn.execute(stmt))
    if not created:
        return []
    await conn.execute(
        insert(seen_alert_audit),
        [{"id": new_id(), "alert_id": i, "at": now_ms, "action": "raised", "actor_id": None} for i in sorted(created)],
    )
    by_scope: dict[tuple[str, str], list[Any]] = {}
    for due, view in raised:
        if view.id in created:
            by_scope.setdefault((scope_of(due.tenant_id, due.branch_id), due.tenant_id), []).append(
                AlertRaised(alert=view)
            )
    appended = []
    for (scope_id, tenant_id), payloads in sorted(by_scope.items()):
        appended.extend(await append_events(conn, tenant_id, scope_id, payloads, now_ms))
    return appended


async def close_alert(
    conn: AsyncConnection, alert_id: str, status: str, actor_id: str | None, now_ms: int
) -> feeds.Appended | None:
    """Resolve (``actor_id`` None) or dismiss an open alert; None if it was not open."""
    closed = await conn.execute(
        update(seen_alerts)
        .where(seen_alerts.c.id == alert_id, seen_alerts.c.status == "open")
        .values(status=status, closed_at=now_ms, closed_by=actor_id, updated_at=now_ms)
    )
    if not closed.rowcount:
        return None
    row = (await conn.execute(with_closer(select(seen_alerts)).where(seen_alerts.c.id == alert_id))).one()
    await conn.execute(
        insert(seen_alert_audit).values(id=new_id(), alert_id=alert_id, at=now_ms, action=status, actor_id=actor_id)
    )
    view = view_of(row)
    event = AlertResolved(alert=view) if status == "resolved" else AlertDismissed(alert=view)
    appended = await append_events(conn, row.tenant_id, scope_of(row.tenant_id, row.branch_id), [event], now_ms)
    return appended[0]


def with_closer(query: Select) -> Select:  # type: ignore[type-arg]
    """``query`` over seen_alerts, joined with the name of the user who closed each."""
    return query.add_columns(users.c.name.label("closer_name")).outerjoin(users, users.c.id == seen_alerts.c.closed_by)
