"""The SQL steps of every rota change, as hot writes (:mod:`server.store.hot.steps`): plain
statements that run unchanged on SQLite's writer thread and on PostgreSQL's asyncpg
connections. A change's steps check its input and the caller (the staff token's row, judged
as on every route), edit the visit, then append one feed entry per affected carer (old and
new assignees) and return the visit's view with what was appended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from protocol.codec import encode
from protocol.frames import Change, ChangePayload, VisitRemoved, VisitUpsert, VisitView
from server.clock import to_datetime, to_ms
from server.ids import new_id
from server.services import feeds
from server.services.carer_lookup import carer_branches_steps
from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff, staff_steps
from server.services.office_input import (
    check_task_count,
    checked_change_frame,
    checked_notes,
    checked_text,
    checked_time,
)
from server.services.visit_views import VisitRow, view_steps
from server.store.hot.steps import Steps


@dataclass(frozen=True)
class NewTask:
    title: str


_EDITABLE_COLUMNS = frozenset({"starts_at", "ends_at", "status", "notes"})


def _change_frame(carer_id: str, committed_at: datetime, payload: ChangePayload) -> Callable[[int, int], bytes]:
    """The frame of a rota change at the position its feed append allocates."""

    def build(epoch: int, seq: int) -> bytes:
        change = Change(feed=carer_id, epoch=epoch, seq=seq, committed_at=committed_at, payload=payload)
        return checked_change_frame(encode(change))

    return build


def token_edit_steps(
    token_hash: str,
    visit_id: str,
    values: Callable[[], dict[str, object]],
    now: int,
    summary: str,
    then: Then | None = None,
    *,
    needs_seen: bool = False,
) -> Steps[tuple[tuple[Staff, VisitView], list[feeds.Appended]]]:
    """Authenticate the caller, check the input (``values`` raises on bad input), then edit:
    a refused token or bad input ends the write before anything is changed."""
    staff = yield from staff_steps(token_hash, now)
    view, appended = yield from edit_steps(staff, visit_id, values(), now, summary, then, needs_seen=needs_seen)
    return (staff, view), appended


def edit_steps(
    actor: Staff,
    visit_id: str,
    values: dict[str, object],
    now: int,
    summary: str,
    then: Then | None = None,
    *,
    needs_seen: bool = False,
) -> Steps[tuple[VisitView, list[feeds.Appended]]]:
    """Update the visit and bump its version (one statement, row-locking it); run ``then``
    (a change of its tasks or carers); read what its view needs (one statement), then
    append the change to each affected carer's feed (two each).

    A carer taken off gets a ``visit_removed``, every other carer a ``visit_upsert``; a
    visit outside the actor's branch, or a carer they cannot assign, rolls back.
    ``needs_seen``: the office asks each carer who gets the ``visit_upsert`` to acknowledge
    it whatever the tenant's window (notes a coordinator marked)."""
    assert values.keys() <= _EDITABLE_COLUMNS
    assignments = "".join(f"{column} = ?, " for column in values)
    rows = yield (
        f"UPDATE visits SET {assignments}version = version + 1, updated_at = ? WHERE id = ? AND tenant_id = ?"
        " RETURNING branch_id, client_id, starts_at, ends_at, status, notes, version",
        (*values.values(), now, visit_id, actor.tenant_id),
    )
    if not rows:
        raise NotFound(f"visit {visit_id} not found")
    branch_id, client_id, starts_at, ends_at, status, notes, version = rows[0]
    actor.require_branch(branch_id)
    before = None if then is None else (yield from then(actor, visit_id, now))
    view = yield from view_steps(visit_id, VisitRow(branch_id, client_id, starts_at, ends_at, status, notes, version))
    carer_ids = view.carer_ids
    if before is None:
        before = carer_ids
    upsert = VisitUpsert(visit=view, needs_seen=needs_seen)
    removed_payload = VisitRemoved(visit_id=visit_id, reason="reassigned")
    committed_at = to_datetime(now)
    appended: list[feeds.Appended] = []
    for carer_id in sorted(set(before) | set(carer_ids)):
        payload: VisitUpsert | VisitRemoved = upsert
        said = summary
        if carer_id not in carer_ids:
            payload, said = removed_payload, "taken off this carer"
        elif carer_id not in before and before:
            said = "assigned to this carer"
        marked = isinstance(payload, VisitUpsert) and needs_seen
        appended += yield from feeds.append_steps(
            feeds.CARERS,
            carer_id,
            [_change_frame(carer_id, committed_at, payload)],
            {"visit_id": visit_id, "committed_at": now, "summary": said[:120], "needs_seen": marked},
        )
    return view, appended


Then = Callable[[Staff, str, int], Steps[list[str] | None]]
"""Steps run on a locked visit (actor, visit id, now): the carers it had before, when they
change, else None."""


def reassigning(carer_ids: list[str]) -> Then:
    return lambda actor, visit_id, now: _reassign_steps(actor, visit_id, carer_ids, now)


def adding_task(title: str) -> Then:
    def steps(actor: Staff, visit_id: str, now: int) -> Steps[None]:
        rows = yield ("SELECT count(*), max(position) FROM tasks WHERE visit_id = ?", (visit_id,))
        count, last = rows[0]
        check_task_count(count + 1)
        position = (last if last is not None else -1) + 1
        yield (
            "INSERT INTO tasks (id, visit_id, title, position) VALUES (?, ?, ?, ?)",
            (new_id(), visit_id, _checked_title(title), position),
        )
        return None

    return steps


def task_values(title: str | None, removed: bool | None) -> dict[str, object]:
    values: dict[str, object] = {}
    if title is not None:
        values["title"] = _checked_title(title)
    if removed is not None:
        values["removed"] = removed
    if not values:
        raise InvalidInput("nothing to change: give title and/or removed")
    return values


def changing_task(task_id: str, values: dict[str, object]) -> Then:
    assert values.keys() <= {"title", "removed"}
    assignments = ", ".join(f"{column} = ?" for column in values)

    def steps(actor: Staff, visit_id: str, now: int) -> Steps[None]:
        rows = yield (
            f"UPDATE tasks SET {assignments} WHERE id = ? AND visit_id = ? RETURNING id",
            (*values.values(), task_id, visit_id),
        )
        if not rows:
            raise NotFound(f"task {task_id} not found on visit {visit_id}")
        return None

    return steps


def _reassign_steps(actor: Staff, visit_id: str, carer_ids: list[str], now: int) -> Steps[list[str]]:
    """Make ``carer_ids`` the visit's carers; the carers it had before (in id order)."""
    yield from _check_carer_steps(actor, carer_ids)
    rows = yield (_CURRENT_CARERS, (visit_id,))
    before = [r[0] for r in rows]
    gone = [c for c in before if c not in carer_ids]
    if gone:
        marks = ", ".join("?" * len(gone))
        yield (
            f"UPDATE visit_assignments SET unassigned_at = ? WHERE visit_id = ? AND carer_id IN ({marks})",
            (now, visit_id, *gone),
        )
    for carer_id in carer_ids:
        if carer_id not in before:  # a former assignee's row is revived
            yield (_ASSIGN, (visit_id, carer_id, now))
    return before


def _check_carer_steps(actor: Staff, carer_ids: list[str]) -> Steps[None]:
    """Every carer exists in the tenant and, for a coordinator, in their branch; a carer
    outside the actor's scope is reported exactly like an unknown id."""
    if len(set(carer_ids)) != len(carer_ids):
        raise InvalidInput("a carer is listed twice")
    branches = yield from carer_branches_steps(actor.tenant_id, carer_ids)
    missing = [c for c in carer_ids if c not in branches or not actor.may_see_branch(branches[c])]
    if missing:
        raise InvalidInput(f"not carers you can assign: {', '.join(missing)}")
    return None


@dataclass(frozen=True)
class _NewVisit:
    """A visit to create, its input already checked (task titles are checked as inserted)."""

    id: str
    client_id: str
    starts_at: int
    ends_at: int
    notes: str
    task_titles: list[str]
    carer_ids: list[str]
    needs_seen: bool = False
    """A coordinator marked its notes as needing the carers' acknowledgement."""


def create_steps(actor: Staff, new: _NewVisit, now: int) -> Steps[tuple[VisitView, list[feeds.Appended]]]:
    """Insert the visit, its tasks and assignments, then publish it as any change is
    (the version goes to 1) with every carer new to it."""
    rows = yield ("SELECT branch_id FROM clients WHERE id = ? AND tenant_id = ?", (new.client_id, actor.tenant_id))
    if not rows:
        raise NotFound(f"client {new.client_id} not found")
    branch_id = rows[0][0]
    actor.require_branch(branch_id)
    yield from _check_carer_steps(actor, new.carer_ids)
    yield (
        "INSERT INTO visits (id, tenant_id, branch_id, client_id, starts_at, ends_at, status, notes, version,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'scheduled', ?, 0, ?)",
        (new.id, actor.tenant_id, branch_id, new.client_id, new.starts_at, new.ends_at, new.notes, now),
    )
    for position, title in enumerate(new.task_titles):
        yield (
            "INSERT INTO tasks (id, visit_id, title, position) VALUES (?, ?, ?, ?)",
            (new_id(), new.id, _checked_title(title), position),
        )
    for carer_id in new.carer_ids:
        yield (_ASSIGN, (new.id, carer_id, now))
    summary = "new visit, notes to acknowledge" if new.needs_seen else "new visit"
    return (yield from edit_steps(actor, new.id, {}, now, summary, _nobody_before, needs_seen=new.needs_seen))


def _nobody_before(actor: Staff, visit_id: str, now: int) -> Steps[list[str] | None]:
    """A new visit had no carers: each of its carers gets it as ``new visit``."""
    return []
    yield  # a generator, though it runs no statement


_CURRENT_CARERS = (
    "SELECT carer_id FROM visit_assignments WHERE visit_id = ? AND unassigned_at IS NULL ORDER BY carer_id"
)
_ASSIGN = (
    "INSERT INTO visit_assignments (visit_id, carer_id, assigned_at) VALUES (?, ?, ?)"
    " ON CONFLICT (visit_id, carer_id) DO UPDATE SET unassigned_at = NULL, assigned_at = excluded.assigned_at"
)


def new_visit(
    client_id: str,
    starts_at: datetime,
    ends_at: datetime,
    carer_ids: list[str],
    tasks_: list[NewTask],
    notes: str,
    needs_seen: bool = False,
) -> _NewVisit:
    start_ms, end_ms = checked_times(starts_at, ends_at)
    checked_notes(notes)
    check_task_count(len(tasks_))
    return _NewVisit(
        id=new_id(),
        client_id=client_id,
        starts_at=start_ms,
        ends_at=end_ms,
        notes=notes,
        task_titles=[t.title for t in tasks_],
        carer_ids=list(carer_ids),
        needs_seen=needs_seen,
    )


def checked_times(starts_at: datetime, ends_at: datetime) -> tuple[int, int]:
    start_ms = to_ms(checked_time(starts_at, "starts_at"))
    end_ms = to_ms(checked_time(ends_at, "ends_at"))
    if end_ms <= start_ms:
        raise InvalidInput("ends_at must be after starts_at")
    return start_ms, end_ms


def _checked_title(title: str) -> str:
    return checked_text(title.strip(), "a task title")
