"""Loading a visit as the carer's device sees it (:class:`protocol.frames.VisitView`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.frames import ClientView, TaskView, VisitStatus, VisitView
from server.clock import to_datetime
from server.services.errors import NotFound
from server.services.office_input import clamped_view
from server.store.hot.steps import Steps, run_on_sqlalchemy
from server.store.schema import clients, tasks, visit_assignments, visits


async def load_visit_row(conn: AsyncConnection, tenant_id: str, visit_id: str, *, lock: bool = False) -> Row[Any]:
    """The visit's row; with ``lock``, row-locked until commit so edits of one visit serialise."""
    query = select(visits).where(visits.c.id == visit_id, visits.c.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"visit {visit_id} not found")
    return row


async def current_carers(conn: AsyncConnection, visit_id: str) -> list[str]:
    rows = await conn.execute(
        select(visit_assignments.c.carer_id)
        .where(visit_assignments.c.visit_id == visit_id, visit_assignments.c.unassigned_at.is_(None))
        .order_by(visit_assignments.c.carer_id)
    )
    return [r.carer_id for r in rows]


_VISIT_ROW = (
    "SELECT branch_id, client_id, starts_at, ends_at, status, notes, version FROM visits WHERE id = ? AND tenant_id = ?"
)
_VIEW_PARTS = (
    "SELECT 'c', name, address, NULL, NULL FROM clients WHERE id = ?"
    " UNION ALL SELECT 't', id, title, position, removed FROM tasks WHERE visit_id = ?"
    " UNION ALL SELECT 'a', carer_id, NULL, NULL, NULL FROM visit_assignments"
    " WHERE visit_id = ? AND unassigned_at IS NULL"
    " ORDER BY 1, 4, 2"
)
"""The visit's client, its tasks (in position order) and its current carers, in one read."""


@dataclass(frozen=True, slots=True)
class VisitRow:
    """The columns of a visit row a view is built from, in :data:`_VISIT_ROW`'s order."""

    branch_id: str
    client_id: str
    starts_at: int
    ends_at: int
    status: VisitStatus
    notes: str
    version: int


def view_steps(visit_id: str, row: VisitRow) -> Steps[VisitView]:
    """The visit as a device sees it, from its row and one read of its client, tasks and
    carers: the one definition, run inside rota hot writes and by :func:`load_visit_view`."""
    parts = yield (_VIEW_PARTS, (row.client_id, visit_id, visit_id))
    client = ClientView(id=row.client_id, name="", address="")
    task_views: list[TaskView] = []
    carer_ids: list[str] = []
    for kind, key, text, position, removed in parts:
        if kind == "c":
            client = ClientView(id=row.client_id, name=key, address=text)
        elif kind == "t":
            task_views.append(TaskView(id=key, title=text, position=position, removed=bool(removed)))
        else:
            carer_ids.append(key)
    return clamped_view(
        VisitView(
            id=visit_id,
            branch_id=row.branch_id,
            client=client,
            starts_at=to_datetime(row.starts_at),
            ends_at=to_datetime(row.ends_at),
            status=row.status,
            carer_ids=carer_ids,
            tasks=task_views,
            notes=row.notes,
            version=row.version,
        )
    )


def visit_view_steps(tenant_id: str, visit_id: str) -> Steps[VisitView]:
    rows = yield (_VISIT_ROW, (visit_id, tenant_id))
    if not rows:
        raise NotFound(f"visit {visit_id} not found")
    return (yield from view_steps(visit_id, VisitRow(*rows[0])))


async def load_visit_view(conn: AsyncConnection, tenant_id: str, visit_id: str) -> VisitView:
    return await run_on_sqlalchemy(conn, visit_view_steps(tenant_id, visit_id))


async def load_visit_views(conn: AsyncConnection, tenant_id: str, visit_ids: list[str]) -> list[VisitView]:
    """Many visits in four queries per 500 (for snapshots and lists), in the given order."""
    views: dict[str, VisitView] = {}
    for start in range(0, len(visit_ids), 500):
        chunk = visit_ids[start : start + 500]
        rows = (
            await conn.execute(
                select(visits, clients.c.name.label("client_name"), clients.c.address.label("client_address"))
                .join(clients, clients.c.id == visits.c.client_id)
                .where(visits.c.id.in_(chunk), visits.c.tenant_id == tenant_id)
            )
        ).all()
        task_lists: dict[str, list[TaskView]] = {}
        for t in await conn.execute(
            select(tasks).where(tasks.c.visit_id.in_(chunk)).order_by(tasks.c.position, tasks.c.id)
        ):
            task_lists.setdefault(t.visit_id, []).append(
                TaskView(id=t.id, title=t.title, position=t.position, removed=bool(t.removed))
            )
        carers: dict[str, list[str]] = {}
        for a in await conn.execute(
            select(visit_assignments.c.visit_id, visit_assignments.c.carer_id)
            .where(visit_assignments.c.visit_id.in_(chunk), visit_assignments.c.unassigned_at.is_(None))
            .order_by(visit_assignments.c.carer_id)
        ):
            carers.setdefault(a.visit_id, []).append(a.carer_id)
        for row in rows:
            views[row.id] = clamped_view(
                VisitView(
                    id=row.id,
                    branch_id=row.branch_id,
                    client=ClientView(id=row.client_id, name=row.client_name, address=row.client_address),
                    starts_at=to_datetime(row.starts_at),
                    ends_at=to_datetime(row.ends_at),
                    status=row.status,
                    carer_ids=carers.get(row.id, []),
                    tasks=task_lists.get(row.id, []),
                    notes=row.notes,
                    version=row.version,
                )
            )
    return [views[v] for v in visit_ids if v in views]
