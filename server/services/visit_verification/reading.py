"""The visits of a date range, read from the store a page at a time.

Pages follow the visits' (scheduled start, id) order by keyset, one short read each, so a
month of a large branch is never held at once: memory holds one page of visits with their
tasks, carers, check-ins and check-outs (``VISIT_VERIFICATION_PAGE`` visits). Other care
records (task outcomes, notes, forms) are only counted, per carer, in SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services.visit_verification.facts import Capture, Place, VisitFacts
from server.store.database import Database
from server.store.schema import branches, care_records, clients, tasks, users, visit_assignments, visits


@dataclass(frozen=True)
class Window:
    """The visits to read: one tenant, one branch or all (None), starting in [since, until)."""

    tenant_id: str
    branch_id: str | None
    since_ms: int
    until_ms: int


class _Location(msgspec.Struct):
    lat: float
    lon: float
    accuracy_m: float | None = None


class _Recorded(msgspec.Struct):
    """The part of a stored check-in or check-out body the export reads."""

    location: _Location | None = None


_recorded = msgspec.json.Decoder(_Recorded)


async def visit_pages(db: Database, window: Window, page_size: int) -> AsyncIterator[list[VisitFacts]]:
    """The window's visits in (scheduled start, id) order, ``page_size`` at a time."""
    after: tuple[int, str] | None = None
    while True:
        async with db.read() as conn:
            page = await _page(conn, window, after, page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = (page[-1].starts_at, page[-1].visit_id)


async def _page(
    conn: AsyncConnection, window: Window, after: tuple[int, str] | None, page_size: int
) -> list[VisitFacts]:
    query = (
        select(
            visits.c.id,
            visits.c.branch_id,
            branches.c.name.label("branch_name"),
            visits.c.client_id,
            clients.c.name.label("client_name"),
            clients.c.address.label("client_address"),
            visits.c.starts_at,
            visits.c.ends_at,
            visits.c.status,
            visits.c.updated_at,
        )
        .join(clients, clients.c.id == visits.c.client_id)
        .join(branches, branches.c.id == visits.c.branch_id)
        .where(
            visits.c.tenant_id == window.tenant_id,
            visits.c.starts_at >= window.since_ms,
            visits.c.starts_at < window.until_ms,
        )
        .order_by(visits.c.starts_at, visits.c.id)
        .limit(page_size)
    )
    if window.branch_id is not None:
        query = query.where(visits.c.branch_id == window.branch_id)
    if after is not None:
        query = query.where(
            or_(visits.c.starts_at > after[0], and_(visits.c.starts_at == after[0], visits.c.id > after[1]))
        )
    found = (await conn.execute(query)).all()
    if not found:
        return []
    ids = [v.id for v in found]
    services = await _services(conn, ids)
    assigned, names = await _assignments(conn, ids)
    check_ins, check_outs = await _captures(conn, ids)
    care, conflicts = await _care_counts(conn, ids)
    unnamed = {c for counts in care.values() for c in counts} - {c for n in names.values() for c in n}
    extra_names = await _names(conn, sorted(unnamed)) if unnamed else {}
    return [
        VisitFacts(
            visit_id=v.id,
            branch_id=v.branch_id,
            branch_name=v.branch_name,
            client_id=v.client_id,
            client_name=v.client_name,
            client_address=v.client_address,
            starts_at=v.starts_at,
            ends_at=v.ends_at,
            status=v.status,
            updated_at=v.updated_at,
            services=services.get(v.id, []),
            assigned=assigned.get(v.id, {}),
            carer_names={**extra_names, **names.get(v.id, {})},
            check_ins=check_ins.get(v.id, []),
            check_outs=check_outs.get(v.id, []),
            care_by_carer=care.get(v.id, {}),
            conflicts_by_carer=conflicts.get(v.id, {}),
        )
        for v in found
    ]


async def _services(conn: AsyncConnection, ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rows = await conn.execute(
        select(tasks.c.visit_id, tasks.c.title)
        .where(tasks.c.visit_id.in_(ids), tasks.c.removed.is_(False))
        .order_by(tasks.c.visit_id, tasks.c.position, tasks.c.id)
    )
    for r in rows:
        found.setdefault(r.visit_id, []).append(r.title)
    return found


async def _assignments(
    conn: AsyncConnection, ids: list[str]
) -> tuple[dict[str, dict[str, bool]], dict[str, dict[str, str]]]:
    assigned: dict[str, dict[str, bool]] = {}
    names: dict[str, dict[str, str]] = {}
    rows = await conn.execute(
        select(
            visit_assignments.c.visit_id, visit_assignments.c.carer_id, visit_assignments.c.unassigned_at, users.c.name
        )
        .join(users, users.c.id == visit_assignments.c.carer_id)
        .where(visit_assignments.c.visit_id.in_(ids))
    )
    for r in rows:
        assigned.setdefault(r.visit_id, {})[r.carer_id] = r.unassigned_at is None
        names.setdefault(r.visit_id, {})[r.carer_id] = r.name
    return assigned, names


async def _captures(conn: AsyncConnection, ids: list[str]) -> tuple[dict[str, list[Capture]], dict[str, list[Capture]]]:
    check_ins: dict[str, list[Capture]] = {}
    check_outs: dict[str, list[Capture]] = {}
    rows = await conn.execute(
        select(
            care_records.c.visit_id,
            care_records.c.carer_id,
            care_records.c.kind,
            care_records.c.captured_at,
            care_records.c.received_at,
            care_records.c.payload,
            care_records.c.conflict,
        ).where(care_records.c.visit_id.in_(ids), care_records.c.kind.in_(("check_in", "check_out")))
    )
    for r in rows:
        capture = Capture(r.carer_id, r.captured_at, r.received_at, _place(r.payload), r.conflict)
        (check_ins if r.kind == "check_in" else check_outs).setdefault(r.visit_id, []).append(capture)
    return check_ins, check_outs


async def _care_counts(
    conn: AsyncConnection, ids: list[str]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, set[str]]]]:
    care: dict[str, dict[str, int]] = {}
    conflicts: dict[str, dict[str, set[str]]] = {}
    rows = await conn.execute(
        select(care_records.c.visit_id, care_records.c.carer_id, care_records.c.conflict, func.count().label("n"))
        .where(care_records.c.visit_id.in_(ids))
        .group_by(care_records.c.visit_id, care_records.c.carer_id, care_records.c.conflict)
    )
    for r in rows:
        per_carer = care.setdefault(r.visit_id, {})
        per_carer[r.carer_id] = per_carer.get(r.carer_id, 0) + r.n
        if r.conflict is not None:
            conflicts.setdefault(r.visit_id, {}).setdefault(r.carer_id, set()).add(r.conflict)
    return care, conflicts


async def _names(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, str]:
    rows = await conn.execute(select(users.c.id, users.c.name).where(users.c.id.in_(carer_ids)))
    return {r.id: r.name for r in rows}


def _place(payload: str) -> Place | None:
    """The location in a stored check-in or check-out body, if the device sent one."""
    try:
        location = _recorded.decode(payload).location
    except msgspec.DecodeError:
        return None  # stored bodies are the server's own encoding; this cannot be read only if damaged
    return None if location is None else Place(location.lat, location.lon, location.accuracy_m)
