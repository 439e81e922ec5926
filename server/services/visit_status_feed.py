"""Visit status, live on the console feed (docs/protocol.md 10, "Visit status and late
visits"): a ``visit_status`` event on the visit's branch feed when a carer's check-in or
check-out is stored for it, or the office cancels or reinstates it
(:meth:`VisitStatusFeed.announce`, called after the upload or the rota change commits),
and when the clock turns it ``late`` or ``missed`` with nobody checked in
(:meth:`VisitStatusFeed.run_once`, once per cluster with the late-visit pass).

Which clock-driven statuses were announced is kept in ``visit_status_announced`` (visit,
status, the moment it turned), so a pass on any node announces each once, and a visit
moved since is announced again at its new times.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import ConsolePayload, VisitState, VisitStatusChanged
from server.bus.base import Bus
from server.clock import Clock, to_datetime
from server.services import feeds
from server.services.console_feed import append_events, scope_of
from server.services.visit_status import Recorded, recorded_for, state_of
from server.store.database import Database
from server.store.schema import care_records, clients, tenants, visit_assignments, visit_status_announced, visits
from server.store.upsert import insert_for

MAX_VISIT_MS = 24 * 3_600_000
"""Visits that started longer ago than this are not looked at (as the late-visit pass)."""

FORGET_AFTER_MS = 2 * MAX_VISIT_MS
"""Announcements this old are removed: their visits are no longer looked at."""

_NOTHING_RECORDED = Recorded()


@dataclass(frozen=True)
class _Visit:
    id: str
    tenant_id: str
    branch_id: str
    client_name: str
    starts_at: int
    ends_at: int
    status: str
    late_grace_s: int


class VisitStatusFeed:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock

    async def announce(self, visit_ids: list[str]) -> int:
        """Announce the status these visits have now (a check-in or check-out was just
        stored for them, or the office changed them); how many."""
        if not visit_ids:
            return 0
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            found = await _visits(conn, visits.c.id.in_(sorted(set(visit_ids))))
            recorded = await recorded_for(conn, [v.id for v in found])
            states = {v.id: _state(v, recorded.get(v.id, _NOTHING_RECORDED), now) for v in found}
            for visit in found:  # a late or missed status told now is not told again by the pass
                state = states[visit.id]
                if state in ("late", "missed"):
                    await _record_announced(conn, visit, state, now)
            appended = await _announce(conn, found, states, now)
        await feeds.ring(self.bus, appended)
        return len(appended)

    async def run_once(self) -> int:
        """Announce every visit that turned late or missed since it was last announced; how many."""
        now = self.clock.now_ms()
        async with self.db.read() as conn:
            due = await _turned(conn, now)
        if not due:
            async with self.db.write() as conn:
                await _forget_old(conn, now)
            return 0
        async with self.db.write() as conn:
            states: dict[str, VisitState] = {}
            fresh = []
            for visit, state in due:
                if await _record_announced(conn, visit, state, now):  # nobody got there first
                    states[visit.id] = state
                    fresh.append(visit)
            appended = await _announce(conn, fresh, states, now)
            await _forget_old(conn, now)
        await feeds.ring(self.bus, appended)
        return len(appended)


async def _record_announced(conn: AsyncConnection, visit: _Visit, state: VisitState, now: int) -> bool:
    """Note that ``visit`` was announced ``state`` (late or missed) at its current times;
    False if it already was."""
    due_at = visit.ends_at if state == "missed" else visit.starts_at + visit.late_grace_s * 1000
    row = {"visit_id": visit.id, "status": state, "due_at": due_at, "announced_at": now}
    stmt = insert_for(conn, visit_status_announced).values(row).on_conflict_do_nothing()
    return bool((await conn.execute(stmt)).rowcount)


async def _turned(conn: AsyncConnection, now: int) -> list[tuple[_Visit, VisitState]]:
    """(visit, late or missed) for the scheduled visits of the last day with no
    check-in whose current status was not announced yet."""
    v, t, a = visits, tenants, visit_status_announced
    late_at = v.c.starts_at + t.c.late_grace_s * 1000

    def not_announced(status: str, due_at: ColumnElement[int]) -> ColumnElement[bool]:
        return ~select(a.c.visit_id).where(a.c.visit_id == v.c.id, a.c.status == status, a.c.due_at == due_at).exists()

    found = await _visits(
        conn,
        v.c.status == "scheduled",
        v.c.starts_at <= now,
        v.c.starts_at >= now - MAX_VISIT_MS,
        late_at <= now,
        ~select(care_records.c.id).where(care_records.c.visit_id == v.c.id, care_records.c.kind == "check_in").exists(),
        or_(
            and_(v.c.ends_at > now, not_announced("late", late_at)),
            and_(v.c.ends_at <= now, not_announced("missed", v.c.ends_at)),
        ),
    )
    return [(visit, "missed" if visit.ends_at <= now else "late") for visit in found]


async def _visits(conn: AsyncConnection, *where: ColumnElement[bool]) -> list[_Visit]:
    rows = await conn.execute(
        select(
            visits.c.id,
            visits.c.tenant_id,
            visits.c.branch_id,
            clients.c.name.label("client_name"),
            visits.c.starts_at,
            visits.c.ends_at,
            visits.c.status,
            tenants.c.late_grace_s,
        )
        .join(tenants, tenants.c.id == visits.c.tenant_id)
        .join(clients, clients.c.id == visits.c.client_id)
        .where(*where)
        .order_by(visits.c.starts_at, visits.c.id)
    )
    return [_Visit(**r._mapping) for r in rows]


async def _announce(
    conn: AsyncConnection, found: list[_Visit], states: dict[str, VisitState], now: int
) -> list[feeds.Appended]:
    """One ``visit_status`` event per visit on its branch's feed, a batch per branch."""
    if not found:
        return []
    carers: dict[str, list[str]] = {}
    for r in await conn.execute(
        select(visit_assignments.c.visit_id, visit_assignments.c.carer_id)
        .where(
            and_(visit_assignments.c.visit_id.in_([v.id for v in found]), visit_assignments.c.unassigned_at.is_(None))
        )
        .order_by(visit_assignments.c.carer_id)
    ):
        carers.setdefault(r.visit_id, []).append(r.carer_id)
    by_scope: dict[tuple[str, str], list[ConsolePayload]] = {}
    for visit in found:
        payload = VisitStatusChanged(
            visit_id=visit.id,
            status=states[visit.id],
            client_name=visit.client_name,
            starts_at=to_datetime(visit.starts_at),
            carer_ids=carers.get(visit.id, []),
        )
        by_scope.setdefault((scope_of(visit.tenant_id, visit.branch_id), visit.tenant_id), []).append(payload)
    appended: list[feeds.Appended] = []
    for (scope, tenant_id), payloads in sorted(by_scope.items()):  # feeds locked in id order
        appended.extend(await append_events(conn, tenant_id, scope, payloads, now))
    return appended


def _state(visit: _Visit, recorded: Recorded, now: int) -> VisitState:
    return state_of(visit.status, visit.starts_at, visit.ends_at, recorded, now, visit.late_grace_s * 1000)


async def _forget_old(conn: AsyncConnection, now: int) -> None:
    old = visit_status_announced.c.announced_at < now - FORGET_AFTER_MS
    await conn.execute(delete(visit_status_announced).where(old))
