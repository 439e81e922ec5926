"""Office rota changes. Each change is one transaction: the visit, then one feed entry
per affected carer (old and new assignees); the bus is rung only after commit. The
changes' SQL steps are in :mod:`server.services.rota_steps`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select

from protocol.frames import VisitView
from server.bus.base import Bus
from server.clock import Clock, to_ms
from server.ids import hash_token
from server.services import feeds
from server.services.errors import Conflict, NotFound
from server.services.identity import Staff, staff_steps
from server.services.office_input import (
    checked_notes,
)
from server.services.rota_steps import (
    NewTask as NewTask,  # part of this module's interface
)
from server.services.rota_steps import (
    Then,
    adding_task,
    changing_task,
    checked_times,
    create_steps,
    edit_steps,
    new_visit,
    reassigning,
    task_values,
    token_edit_steps,
)
from server.services.visit_views import load_visit_view, load_visit_views
from server.store.database import Database
from server.store.hot.steps import Steps, StepsFactory
from server.store.schema import users, visit_assignments, visits

R = TypeVar("R")
log = logging.getLogger(__name__)

NOTES_TO_ACKNOWLEDGE = "notes changed, to acknowledge"
"""What a change carrying notes a coordinator marked says (alerts, the visit's history)."""


class RotaService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.on_status_changed: list[Callable[[list[str]], Awaitable[object]]] = []
        """Called with a visit the office cancelled or reinstated (after the commit): its
        status changed (the console feed's ``visit_status``). Not for a move, the REST write
        path's commonest change, which rarely changes a status: a visit moved to a time
        already past its grace is told by the next late-visit pass."""

    # ----------------------------------------------------------------- writes

    async def create_visit(
        self,
        actor: Staff,
        *,
        client_id: str,
        starts_at: datetime,
        ends_at: datetime,
        carer_ids: list[str],
        tasks_: list[NewTask],
        notes: str = "",
        needs_seen: bool = False,
    ) -> VisitView:
        """A new visit; ``needs_seen``: its carers must acknowledge it (and its notes)
        whatever the tenant's window."""
        new = new_visit(client_id, starts_at, ends_at, carer_ids, tasks_, notes, needs_seen)
        now = self.clock.now_ms()
        return await self._committed(lambda: create_steps(actor, new, now))

    async def create_visit_by_token(
        self,
        token: str,
        *,
        client_id: str,
        starts_at: datetime,
        ends_at: datetime,
        carer_ids: list[str],
        tasks_: list[NewTask],
        notes: str = "",
        needs_seen: bool = False,
    ) -> tuple[Staff, VisitView]:
        """``create_visit`` for the staff member holding ``token``, authenticated in the same
        transaction; the input is checked once the caller is known (401 before 422)."""
        now, token_hash = self.clock.now_ms(), hash_token(token)

        def steps() -> Steps[tuple[tuple[Staff, VisitView], list[feeds.Appended]]]:
            staff = yield from staff_steps(token_hash, now)
            new = new_visit(client_id, starts_at, ends_at, carer_ids, tasks_, notes, needs_seen)
            view, appended = yield from create_steps(staff, new, now)
            return (staff, view), appended

        return await self._committed(steps)

    async def reschedule_by_token(
        self, token: str, visit_id: str, starts_at: datetime, ends_at: datetime
    ) -> tuple[Staff, VisitView]:
        """``reschedule`` for the staff member holding ``token``, authenticated in the same
        transaction (REST: no separate read for the caller)."""

        def values() -> dict[str, object]:
            start_ms, end_ms = checked_times(starts_at, ends_at)
            return {"starts_at": start_ms, "ends_at": end_ms}

        return await self._edit_by_token(token, visit_id, values, "rescheduled")

    async def update_notes_by_token(
        self, token: str, visit_id: str, notes: str, *, needs_seen: bool = False
    ) -> tuple[Staff, VisitView]:
        """New office notes; ``needs_seen``: the coordinator marks them as needing the
        carers' acknowledgement whatever the tenant's window (the same notes may be sent
        again, marked)."""
        summary = NOTES_TO_ACKNOWLEDGE if needs_seen else "notes changed"

        def values() -> dict[str, object]:
            return {"notes": checked_notes(notes)}

        return await self._edit_by_token(token, visit_id, values, summary, needs_seen=needs_seen)

    async def update_notes(self, actor: Staff, visit_id: str, notes: str, *, needs_seen: bool = False) -> VisitView:
        """``update_notes_by_token`` for a caller already known (the console)."""
        summary = NOTES_TO_ACKNOWLEDGE if needs_seen else "notes changed"
        return await self._edit(actor, visit_id, {"notes": checked_notes(notes)}, summary, needs_seen=needs_seen)

    async def reassign_by_token(self, token: str, visit_id: str, carer_ids: list[str]) -> tuple[Staff, VisitView]:
        return await self._edit_by_token(token, visit_id, dict, "carers changed", reassigning(carer_ids))

    async def cancel_by_token(self, token: str, visit_id: str) -> tuple[Staff, VisitView]:
        edited = await self._edit_by_token(token, visit_id, lambda: {"status": "cancelled"}, "cancelled")
        return await self._status_changed(edited)

    async def reschedule(self, actor: Staff, visit_id: str, starts_at: datetime, ends_at: datetime) -> VisitView:
        start_ms, end_ms = checked_times(starts_at, ends_at)
        return await self._edit(actor, visit_id, {"starts_at": start_ms, "ends_at": end_ms}, "rescheduled")

    async def cancel(self, actor: Staff, visit_id: str) -> VisitView:
        view = await self._edit(actor, visit_id, {"status": "cancelled"}, "cancelled")
        return (await self._status_changed((actor, view)))[1]

    async def reinstate(self, actor: Staff, visit_id: str) -> VisitView:
        """A cancelled visit scheduled again; its carers' phones get it back at once."""
        if (await self.get_visit(actor, visit_id)).status != "cancelled":
            raise Conflict("only a cancelled visit can be reinstated")
        view = await self._edit(actor, visit_id, {"status": "scheduled"}, "reinstated")
        return (await self._status_changed((actor, view)))[1]

    async def reassign(self, actor: Staff, visit_id: str, carer_ids: list[str]) -> VisitView:
        return await self._edit(actor, visit_id, {}, "carers changed", reassigning(carer_ids))

    async def add_task_by_token(self, token: str, visit_id: str, title: str) -> tuple[Staff, VisitView]:
        return await self._edit_by_token(token, visit_id, dict, f"task added: {title.strip()}", adding_task(title))

    async def change_task_by_token(
        self, token: str, visit_id: str, task_id: str, *, title: str | None, removed: bool | None
    ) -> tuple[Staff, VisitView]:
        summary = "task removed" if removed else "task changed"
        checked: dict[str, object] = {}

        def values() -> dict[str, object]:
            # Checked once the caller is known and before the visit is looked up.
            checked.update(task_values(title, removed))
            return {}

        def changing(actor: Staff, visit: str, now: int) -> Steps[list[str] | None]:
            return changing_task(task_id, checked)(actor, visit, now)

        return await self._edit_by_token(token, visit_id, values, summary, changing)

    # ----------------------------------------------------------------- reads

    async def get_visit(self, actor: Staff, visit_id: str) -> VisitView:
        async with self.db.read() as conn:
            view = await load_visit_view(conn, actor.tenant_id, visit_id)
        actor.require_branch(view.branch_id)
        return view

    async def branch_visits(
        self,
        actor: Staff,
        branch_id: str,
        since: datetime,
        until: datetime,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[VisitView]:
        """Visits starting in [since, until), in start order; ``limit``/``offset`` page them."""
        actor.require_branch(branch_id)
        async with self.db.read() as conn:
            ids = await conn.execute(
                select(visits.c.id)
                .where(
                    visits.c.tenant_id == actor.tenant_id,
                    visits.c.branch_id == branch_id,
                    visits.c.starts_at >= to_ms(since),
                    visits.c.starts_at < to_ms(until),
                )
                .order_by(visits.c.starts_at, visits.c.id)
                .limit(limit)
                .offset(offset)
            )
            return await load_visit_views(conn, actor.tenant_id, [r.id for r in ids.all()])

    async def carer_visits(
        self,
        actor: Staff,
        carer_id: str,
        since: datetime,
        until: datetime,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[VisitView]:
        """The carer's current visits in [since, until) that ``actor`` may see, paged."""
        async with self.db.read() as conn:
            carer = (
                await conn.execute(select(users).where(users.c.id == carer_id, users.c.tenant_id == actor.tenant_id))
            ).first()
            if carer is None or carer.role != "carer" or not actor.may_see_branch(carer.branch_id):
                raise NotFound(f"carer {carer_id} not found")  # out of scope answers as missing
            query = (
                select(visits.c.id)
                .join(visit_assignments, visit_assignments.c.visit_id == visits.c.id)
                .where(
                    visit_assignments.c.carer_id == carer_id,
                    visit_assignments.c.unassigned_at.is_(None),
                    visits.c.starts_at >= to_ms(since),
                    visits.c.starts_at < to_ms(until),
                )
            )
            branch = actor.scope_branch()
            if branch is not None:
                query = query.where(visits.c.branch_id == branch)
            ids = await conn.execute(query.order_by(visits.c.starts_at, visits.c.id).limit(limit).offset(offset))
            return await load_visit_views(conn, actor.tenant_id, [r.id for r in ids.all()])

    # ----------------------------------------------------------------- internals

    async def _edit(
        self,
        actor: Staff,
        visit_id: str,
        values: dict[str, object],
        summary: str,
        then: Then | None = None,
        *,
        needs_seen: bool = False,
    ) -> VisitView:
        """A rota change as one hot write: four statements for a visit with one carer, plus
        what ``then`` runs."""
        now = self.clock.now_ms()
        return await self._committed(
            lambda: edit_steps(actor, visit_id, values, now, summary, then, needs_seen=needs_seen)
        )

    async def _edit_by_token(
        self,
        token: str,
        visit_id: str,
        values: Callable[[], dict[str, object]],
        summary: str,
        then: Then | None = None,
        *,
        needs_seen: bool = False,
    ) -> tuple[Staff, VisitView]:
        now, token_hash = self.clock.now_ms(), hash_token(token)
        return await self._committed(
            lambda: token_edit_steps(token_hash, visit_id, values, now, summary, then, needs_seen=needs_seen)
        )

    async def _status_changed(self, edited: tuple[Staff, VisitView]) -> tuple[Staff, VisitView]:
        """Tell ``on_status_changed`` of a committed change of the visit's status; a hook
        that fails is logged (the pages show the status on their next load)."""
        for hook in self.on_status_changed:
            try:
                await hook([edited[1].id])
            except Exception:
                log.exception("a visit-status hook failed; the console pages show it on their next load")
        return edited

    async def _committed(self, steps: StepsFactory[tuple[R, list[feeds.Appended]]]) -> R:
        """Run a change's hot write, then ring the bus for what it appended.

        Shielded from the caller's cancellation (a client that hangs up while its change
        waits for SQLite's writer thread or a row lock): the change is carried through,
        committed and rung as if the caller were still there, so a device hears of it at
        once rather than at its next heartbeat, on either store.
        """

        async def write_and_ring() -> R:
            result, appended = await self.db.hot_write(steps)
            await feeds.ring(self.bus, appended)
            return result

        return await asyncio.shield(write_and_ring())
