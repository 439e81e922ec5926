"""Sync-mismatch alerts: raised, updated, resolved and dismissed, with an audit trail and
a console event for each. Every method runs inside the caller's write transaction and
returns the console entries to ring after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ARRAY, Row, Select, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import (
    AlertDismissed,
    AlertRaised,
    AlertResolved,
    AlertUpdated,
    AlertView,
    ConsolePayload,
)
from server.clock import to_datetime
from server.ids import new_id
from server.services import feeds
from server.services.console_feed import append_event, append_events, scope_of
from server.services.mismatch import details
from server.store.schema import alert_audit, mismatch_alerts, users
from server.store.upsert import insert_for

ALERT_INSERT_CHUNK = 1000
"""Alerts per multi-row insert: 14 columns each stays under SQLite's 32,766 bound variables."""

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


@dataclass(frozen=True)
class Draft:
    """What an alert covers, before its details are read from the store."""

    alert_id: str
    carer_id: str
    carer_name: str
    branch_id: str | None
    epoch: int
    first_unacked_seq: int
    head_seq: int
    raised_at: int


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
    draft = Draft(alert_id, carer_id, carer_name, branch_id, epoch, first_unacked_seq, head_seq, raised_at)
    return (await build_views(conn, [draft], now_ms))[0]


async def build_views(conn: AsyncConnection, drafts: list[Draft], now_ms: int) -> list[AlertView]:
    """The views of many alerts (one per carer) from a few statements per chunk of carers."""
    found = await details.devices_of_many(conn, {d.carer_id: (d.epoch, d.head_seq) for d in drafts}, now_ms)
    affected = await details.affected_visits_many(conn, {d.carer_id: (d.epoch, d.first_unacked_seq) for d in drafts})
    views = []
    for d in drafts:
        diagnosis = details.diagnose(found[d.carer_id])
        visits = affected[d.carer_id]
        severity, earliest, minutes = details.urgency(visits, now_ms)
        views.append(
            AlertView(
                id=d.alert_id,
                carer_id=d.carer_id,
                carer_name=d.carer_name,
                branch_id=d.branch_id,
                status="open",
                severity=severity,
                diagnosis=diagnosis,
                raised_at=to_datetime(d.raised_at),
                updated_at=to_datetime(now_ms),
                closed_at=None,
                closed_by=None,
                first_unacked_seq=d.first_unacked_seq,
                head_seq=d.head_seq,
                earliest_start=None if earliest is None else to_datetime(earliest),
                minutes_until_start=minutes,
                devices=found[d.carer_id],
                visits=visits,
                action=details.advice(d.carer_name, diagnosis),
            )
        )
    return views


def change_key(view: AlertView) -> tuple[object, ...]:
    """What makes an update worth telling the office about (not the ticking minutes)."""
    return (view.head_seq, view.severity, view.diagnosis, tuple((d.device_id, d.state) for d in view.devices))


async def raise_alerts(
    conn: AsyncConnection, raised: list[tuple[str, int, AlertView]], now_ms: int
) -> list[feeds.Appended]:
    """Insert open alerts, given as (tenant id, epoch, view), in a handful of statements:
    multi-row inserts that skip carers who already have an open alert (the partial unique
    index decides, so two detectors on two nodes cannot both raise one), one audit insert,
    and one batch of console events per scope. Returns the entries to ring after commit."""
    created: set[str] = set()
    for start in range(0, len(raised), ALERT_INSERT_CHUNK):
        chunk = raised[start : start + ALERT_INSERT_CHUNK]
        rows = [_alert_row(tenant_id, epoch, view, now_ms) for tenant_id, epoch, view in chunk]
        created.update(await _insert_new(conn, rows))
    if not created:
        return []
    audit = [
        {"id": new_id(), "alert_id": alert_id, "at": now_ms, "action": "raised", "actor_id": None}
        for alert_id in sorted(created)
    ]
    if conn.dialect.name == "postgresql":
        await conn.execute(_unnest_insert(alert_audit, audit))
    else:
        await conn.execute(insert(alert_audit), audit)
    by_scope: dict[tuple[str, str], list[ConsolePayload]] = {}
    for tenant_id, _epoch, view in raised:
        if view.id in created:
            by_scope.setdefault((scope_of(tenant_id, view.branch_id), tenant_id), []).append(AlertRaised(alert=view))
    appended = []
    for (scope_id, tenant_id), payloads in sorted(by_scope.items()):  # feeds locked in id order
        appended.extend(await append_events(conn, tenant_id, scope_id, payloads, now_ms))
    return appended


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[str]:
    """Insert alerts unless their carer has an open one; the ids inserted.

    On PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` with an array per column: the
    same statement text whatever the count, so it is prepared once and binds 14 values,
    not 14 per alert."""
    if conn.dialect.name == "postgresql":
        stmt = _unnest_insert(mismatch_alerts, rows)
    else:
        stmt = insert_for(conn, mismatch_alerts)
    stmt = stmt.on_conflict_do_nothing(
        index_elements=[mismatch_alerts.c.carer_id], index_where=text("status = 'open'")
    ).returning(mismatch_alerts.c.id)
    result = await (conn.execute(stmt) if conn.dialect.name == "postgresql" else conn.execute(stmt, rows))
    return [r.id for r in result]


def _unnest_insert(table: Table, rows: list[dict[str, Any]]) -> Any:
    """PostgreSQL: insert ``rows`` as one array per column, unnested side by side."""
    columns = list(rows[0])
    arrays = [
        bindparam(f"{name}_values", [row[name] for row in rows], type_=ARRAY(table.c[name].type)) for name in columns
    ]
    unnested = func.unnest(*arrays).table_valued(*columns).render_derived()
    return postgresql.insert(table).from_select(columns, select(*(unnested.c[name] for name in columns)))


def _alert_row(tenant_id: str, epoch: int, view: AlertView, now_ms: int) -> dict[str, object]:
    return {
        "id": view.id,
        "tenant_id": tenant_id,
        "branch_id": view.branch_id,
        "carer_id": view.carer_id,
        "status": "open",
        "epoch": epoch,
        "first_unacked_seq": view.first_unacked_seq,
        "head_seq": view.head_seq,
        "severity": view.severity,
        "raised_at": now_ms,
        "updated_at": now_ms,
        "closed_at": None,
        "closed_by": None,
        "details": msgspec.json.encode(view).decode(),
    }


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
