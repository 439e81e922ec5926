"""The visits due a late-visit alert now, and what the alert says of each carer.

A visit is due when it is scheduled (not cancelled), has a carer, started at most a day
ago, the tenant's ``late_grace_s`` after its start has passed, nobody checked in, and it
was never alerted (one alert per visit, ever).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import (
    care_records,
    clients,
    tenants,
    users,
    visit_alerts,
    visit_assignments,
    visits,
)

MAX_VISIT_MS = 24 * 3_600_000
"""Visits that started longer ago than this are not looked at."""


@dataclass(frozen=True)
class LateVisit:
    visit_id: str
    tenant_id: str
    branch_id: str
    client_name: str
    starts_at: int
    ends_at: int
    carers: list[tuple[str, str]]
    """(id, name) of each current carer, by id."""


async def due(conn: AsyncConnection, now_ms: int) -> list[LateVisit]:
    v, t = visits, tenants
    rows = await conn.execute(
        select(v.c.id, v.c.tenant_id, v.c.branch_id, clients.c.name.label("client_name"), v.c.starts_at, v.c.ends_at)
        .join(t, t.c.id == v.c.tenant_id)
        .join(clients, clients.c.id == v.c.client_id)
        .where(
            v.c.status == "scheduled",
            v.c.starts_at <= now_ms,
            v.c.starts_at >= now_ms - MAX_VISIT_MS,
            v.c.starts_at + t.c.late_grace_s * 1000 <= now_ms,
            ~select(care_records.c.id)
            .where(care_records.c.visit_id == v.c.id, care_records.c.kind == "check_in")
            .exists(),
            ~select(visit_alerts.c.id).where(visit_alerts.c.visit_id == v.c.id).exists(),
        )
        .order_by(v.c.starts_at, v.c.id)
    )
    found = {r.id: r for r in rows}
    if not found:
        return []
    carers: dict[str, list[tuple[str, str]]] = {}
    for r in await conn.execute(
        select(visit_assignments.c.visit_id, users.c.id, users.c.name)
        .join(users, users.c.id == visit_assignments.c.carer_id)
        .where(visit_assignments.c.visit_id.in_(list(found)), visit_assignments.c.unassigned_at.is_(None))
        .order_by(users.c.id)
    ):
        carers.setdefault(r.visit_id, []).append((r.id, r.name))
    return [
        LateVisit(r.id, r.tenant_id, r.branch_id, r.client_name, r.starts_at, r.ends_at, carers[r.id])
        for r in found.values()
        if r.id in carers
    ]
