"""Office rota endpoints: visits and their tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.errors import ProtocolError
from protocol.frames import VisitView
from server.api.http import bearer, handles_errors, json_response, node_of, read_body, staff_of
from server.node import Node
from server.observability.logs import bind
from server.services.errors import InvalidInput
from server.services.identity import Staff
from server.services.office_input import checked_time
from server.services.rota import NewTask
from server.services.seen_history import visit_seen_history
from server.tunables import MAX_PAGE_NUMBER
from server.tunables import VISIT_LIST_MAX_PAGE_SIZE as MAX_PAGE_SIZE
from server.tunables import VISIT_LIST_MAX_WINDOW_DAYS as MAX_WINDOW_DAYS


class TaskBody(msgspec.Struct):
    title: str


class CreateVisitBody(msgspec.Struct):
    client_id: str
    starts_at: datetime
    ends_at: datetime
    carer_ids: list[str] = []
    tasks: list[TaskBody] = []
    notes: str = ""
    needs_seen: bool = False
    """The carers must acknowledge the new visit (its notes) whatever the tenant's window."""


class RescheduleBody(msgspec.Struct):
    starts_at: datetime
    ends_at: datetime


class ReassignBody(msgspec.Struct):
    carer_ids: list[str]


class NotesBody(msgspec.Struct):
    notes: str
    needs_seen: bool = False
    """The coordinator marks the notes as needing the carers' acknowledgement: the change
    carrying them needs it whatever the tenant's window (docs/protocol.md 4b)."""


class ChangeTaskBody(msgspec.Struct):
    title: str | None = None
    removed: bool | None = None


T = TypeVar("T")


async def _body(request: Request, kind: type[T]) -> T:
    """The body of a route that authenticates inside its write: a bad body is answered
    only once the caller is known, as on every other route (401 before 422)."""
    bearer(request)
    try:
        return await read_body(request, kind)
    except ProtocolError:
        await staff_of(request)
        raise


async def _noted(node: Node, staff: Staff) -> None:
    """What ``staff_of`` does once the caller is known: log context and the token's last use."""
    bind(tenant=staff.tenant_id)
    if staff.credential_id is not None:
        await node.staff_auth.tokens.note_use(staff.credential_id, staff.last_used_ms)


@handles_errors
async def create_visit(request: Request) -> Response:
    body = await _body(request, CreateVisitBody)
    node = node_of(request)
    staff, view = await node.rota.create_visit_by_token(
        bearer(request),
        client_id=body.client_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        carer_ids=body.carer_ids,
        tasks_=[NewTask(t.title) for t in body.tasks],
        notes=body.notes,
        needs_seen=body.needs_seen,
    )
    await _noted(node, staff)
    return json_response(view, 201)


@handles_errors
async def get_visit(request: Request) -> Response:
    staff = await staff_of(request)
    return json_response(await node_of(request).rota.get_visit(staff, request.path_params["visit_id"]))


@handles_errors
async def update_visit(request: Request) -> Response:
    body = await _body(request, NotesBody)
    node = node_of(request)
    staff, view = await node.rota.update_notes_by_token(
        bearer(request), request.path_params["visit_id"], body.notes, needs_seen=body.needs_seen
    )
    await _noted(node, staff)
    return json_response(view)


@handles_errors
async def reschedule(request: Request) -> Response:
    body = await _body(request, RescheduleBody)
    node = node_of(request)
    staff, view = await node.rota.reschedule_by_token(
        bearer(request), request.path_params["visit_id"], body.starts_at, body.ends_at
    )
    await _noted(node, staff)
    return json_response(view)


@handles_errors
async def reassign(request: Request) -> Response:
    body = await _body(request, ReassignBody)
    node = node_of(request)
    staff, view = await node.rota.reassign_by_token(bearer(request), request.path_params["visit_id"], body.carer_ids)
    await _noted(node, staff)
    return json_response(view)


@handles_errors
async def cancel(request: Request) -> Response:
    node = node_of(request)
    staff, view = await node.rota.cancel_by_token(bearer(request), request.path_params["visit_id"])
    await _noted(node, staff)
    return json_response(view)


@handles_errors
async def add_task(request: Request) -> Response:
    body = await _body(request, TaskBody)
    node = node_of(request)
    staff, view = await node.rota.add_task_by_token(bearer(request), request.path_params["visit_id"], body.title)
    await _noted(node, staff)
    return json_response(view, 201)


@handles_errors
async def change_task(request: Request) -> Response:
    body = await _body(request, ChangeTaskBody)
    node = node_of(request)
    staff, view = await node.rota.change_task_by_token(
        bearer(request),
        request.path_params["visit_id"],
        request.path_params["task_id"],
        title=body.title,
        removed=body.removed,
    )
    await _noted(node, staff)
    return json_response(view)


_LIST_PARAMS = {"from", "to", "page", "page_size"}


def _window(request: Request) -> tuple[datetime, datetime]:
    """``?from=&to=`` as RFC 3339 times; default: today (UTC) and the next 14 days.

    Both lie in the office time range (:func:`checked_time`), ``to`` after ``from`` and at
    most 62 days later."""
    params = request.query_params
    unknown = sorted(set(params) - _LIST_PARAMS)
    if unknown:
        raise InvalidInput(f"unknown parameter(s): {', '.join(unknown)}; use {', '.join(sorted(_LIST_PARAMS))}")
    since = _parse(params.get("from"), "from")
    until = _parse(params.get("to"), "to")
    start = since or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = until or start + timedelta(days=15)
    if end <= start:
        raise InvalidInput("to must be after from")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise InvalidInput(f"from..to spans at most {MAX_WINDOW_DAYS} days; page through longer periods")
    return start, end


def _parse(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an RFC 3339 time with an offset: {exc}") from exc
    return checked_time(moment, name)


def _page(request: Request) -> tuple[int, int]:
    """``?page=`` (from 1) and ``?page_size=`` (1 to 500, default 200)."""
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("page_size", "200"))
    except ValueError as exc:
        raise InvalidInput("page and page_size are whole numbers") from exc
    if not 1 <= page <= MAX_PAGE_NUMBER or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page is 1 to {MAX_PAGE_NUMBER}; page_size is 1 to {MAX_PAGE_SIZE}")
    return page, size


async def _listed(request: Request, fetch: Callable[[int, int], Awaitable[list[VisitView]]]) -> Response:
    page, size = _page(request)
    found = await fetch(size + 1, (page - 1) * size)
    return json_response(
        {"visits": found[:size], "page": page, "page_size": size, "next_page": page + 1 if len(found) > size else None}
    )


@handles_errors
async def branch_visits(request: Request) -> Response:
    staff = await staff_of(request)
    since, until = _window(request)
    rota, branch_id = node_of(request).rota, request.path_params["branch_id"]
    return await _listed(
        request, lambda limit, offset: rota.branch_visits(staff, branch_id, since, until, limit=limit, offset=offset)
    )


@handles_errors
async def carer_visits(request: Request) -> Response:
    staff = await staff_of(request)
    since, until = _window(request)
    rota, carer_id = node_of(request).rota, request.path_params["carer_id"]
    return await _listed(
        request, lambda limit, offset: rota.carer_visits(staff, carer_id, since, until, limit=limit, offset=offset)
    )


@handles_errors
async def seen_history(request: Request) -> Response:
    """``GET /api/v1/visits/{visit_id}/seen``: per change, delivered and seen (docs/protocol.md 4b)."""
    staff = await staff_of(request)
    async with node_of(request).db.read() as conn:
        return json_response(await visit_seen_history(conn, staff, request.path_params["visit_id"]))


routes = [
    Route("/api/v1/visits", create_visit, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}", get_visit, methods=["GET"]),
    Route("/api/v1/visits/{visit_id}", update_visit, methods=["PATCH"]),
    Route("/api/v1/visits/{visit_id}/reschedule", reschedule, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/reassign", reassign, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/cancel", cancel, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/seen", seen_history, methods=["GET"]),
    Route("/api/v1/visits/{visit_id}/tasks", add_task, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/tasks/{task_id}", change_task, methods=["PATCH"]),
    Route("/api/v1/branches/{branch_id}/visits", branch_visits, methods=["GET"]),
    Route("/api/v1/carers/{carer_id}/visits", carer_visits, methods=["GET"]),
]
