"""Alert rows kept in a table of their own ("delivered but not seen", late visits): raised
once (a unique key decides between racing detectors), closed (resolved or dismissed), each
with an audit row and a console event: the same ``alert_*`` events and card as sync-mismatch
alerts. Every function runs inside the caller's write transaction and returns the console
entries to ring after commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Select, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import AlertDismissed, AlertRaised, AlertResolved, AlertView, ConsolePayload
from server.ids import new_id
from server.services import feeds
from server.services.console_feed import append_events, scope_of
from server.services.mismatch.alerts import view_of
from server.store.schema import users
from server.store.upsert import insert_for


@dataclass(frozen=True)
class AlertKind:
    alerts: Table
    audit: Table
    key: tuple[str, ...]
    """The columns an alert is raised once for."""

    def with_closer(self) -> Callable[[Select[Any]], Select[Any]]:
        """``query`` over the alerts, joined with the name of the user who closed each."""
        table = self.alerts

        def joined(query: Select[Any]) -> Select[Any]:
            return query.add_columns(users.c.name.label("closer_name")).outerjoin(
                users, users.c.id == table.c.closed_by
            )

        return joined


def row_of(tenant_id: str, view: AlertView, now_ms: int, **key: object) -> dict[str, object]:
    """An open alert's row: its view as details, and the kind's key columns."""
    return {
        "id": view.id,
        "tenant_id": tenant_id,
        "branch_id": view.branch_id,
        "carer_id": view.carer_id,
        "status": "open",
        "severity": view.severity,
        "raised_at": now_ms,
        "updated_at": now_ms,
        "closed_at": None,
        "closed_by": None,
        "details": msgspec.json.encode(view).decode(),
        **key,
    }


async def raise_alerts(
    conn: AsyncConnection, kind: AlertKind, raised: list[tuple[dict[str, Any], AlertView]], now_ms: int
) -> list[feeds.Appended]:
    """Insert the alerts (one already raised for the same key is skipped), their audit rows
    and one batch of console events per scope."""
    created: set[str] = set()
    for row, _view in raised:
        stmt = (
            insert_for(conn, kind.alerts)
            .values(**row)
            .on_conflict_do_nothing(index_elements=list(kind.key))
            .returning(kind.alerts.c.id)
        )
        created.update(r.id for r in await conn.execute(stmt))
    if not created:
        return []
    await conn.execute(
        insert(kind.audit),
        [{"id": new_id(), "alert_id": i, "at": now_ms, "action": "raised", "actor_id": None} for i in sorted(created)],
    )
    by_scope: dict[tuple[str, str], list[ConsolePayload]] = {}
    for row, view in raised:
        if view.id in created:
            tenant_id = str(row["tenant_id"])
            by_scope.setdefault((scope_of(tenant_id, view.branch_id), tenant_id), []).append(AlertRaised(alert=view))
    appended = []
    for (scope_id, tenant_id), payloads in sorted(by_scope.items()):
        appended.extend(await append_events(conn, tenant_id, scope_id, payloads, now_ms))
    return appended


async def close_alert(
    conn: AsyncConnection, kind: AlertKind, alert_id: str, status: str, actor_id: str | None, now_ms: int
) -> feeds.Appended | None:
    """Resolve (``actor_id`` None) or dismiss an open alert; None if it was not open."""
    table = kind.alerts
    closed = await conn.execute(
        update(table)
        .where(table.c.id == alert_id, table.c.status == "open")
        .values(status=status, closed_at=now_ms, closed_by=actor_id, updated_at=now_ms)
    )
    if not closed.rowcount:
        return None
    row = (await conn.execute(kind.with_closer()(select(table)).where(table.c.id == alert_id))).one()
    await conn.execute(
        insert(kind.audit).values(id=new_id(), alert_id=alert_id, at=now_ms, action=status, actor_id=actor_id)
    )
    view = view_of(row)
    event = AlertResolved(alert=view) if status == "resolved" else AlertDismissed(alert=view)
    appended = await append_events(conn, row.tenant_id, scope_of(row.tenant_id, row.branch_id), [event], now_ms)
    return appended[0]
