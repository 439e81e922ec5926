"""The visits of a date range, read from the store a page at a time.

Pages follow the visits' scheduled start by keyset (the next page starts after the last
start read), one short read each, so a month of a large branch is never held at once:
memory holds one page of visits with their tasks, carers, check-ins and check-outs
(``VISIT_VERIFICATION_PAGE`` visits, plus those starting at the same moment as its last).
Other care records (task outcomes, notes, forms) are only counted, per carer, in SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Select, func, select, true
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
    """The window's visits in (scheduled start, id) order, about ``page_size`` at a time.

    A page is read in scheduled-start order alone, which the visits' start indexes give
    without sorting, so each page costs the same however far into the range it is. When
    it comes back full, the visits starting at the very moment of its last one are read
    whole into it (a moment is never split across pages) and the next page starts after
    that moment: a page holds ``page_size`` visits plus those sharing its last start."""
    after: int | None = None
    while True:
        async with db.read() as conn:
            found = await _visits_after(conn, window, after, page_size)
            full = len(found) == page_size
            if full:
                after = found[-1].starts_at
                found = [v for v in found if v.starts_at != after] + await _visits_at(conn, window, after)
            found.sort(key=lambda v: (v.starts_at, v.id))
            page = await _facts(conn, found)
        if page:
            yield page
        if not full:
            return


def _visits(window: Window) -> Select[Any]:
    return (
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
        .where(visits.c.tenant_id == window.tenant_id)
        .where(visits.c.branch_id == window.branch_id if window.branch_id is not None else true())
    )


async def _visits_after(conn: AsyncConnection, window: Window, after: int | None, limit: int) -> list[Any]:
    """The first ``limit`` visits of the window starting after ``after`` (None: from its start)."""
    lower = visits.c.starts_at >= window.since_ms if after is None else visits.c.starts_at > after
    query = _visits(window).where(lower, visits.c.starts_at < window.until_ms)
    return list((await conn.execute(query.order_by(visits.c.starts_at).limit(limit))).all())


async def _visits_at(conn: AsyncConnection, window: Window, moment: int) -> list[Any]:
    """Every visit of the window's tenant and branch starting at ``moment``."""
    return list((await conn.execute(_visits(window).where(visits.c.starts_at == moment))).all())


async def _facts(conn: AsyncConnection, found: list[Any]) -> list[VisitFacts]:
    """The facts of these visits (rows of :func:`_visits`), in their order."""
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
