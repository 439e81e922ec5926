"""Office rota endpoints: visits and their tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, read_body, staff_of
from server.services.errors import InvalidInput
from server.services.rota import NewTask


class TaskBody(msgspec.Struct):
    title: str


class CreateVisitBody(msgspec.Struct):
    client_id: str
    starts_at: datetime
    ends_at: datetime
    carer_ids: list[str] = []
    tasks: list[TaskBody] = []
    notes: str = ""


class RescheduleBody(msgspec.Struct):
    starts_at: datetime
    ends_at: datetime


class ReassignBody(msgspec.Struct):
    carer_ids: list[str]


class NotesBody(msgspec.Struct):
    notes: str


class ChangeTaskBody(msgspec.Struct):
    title: str | None = None
    removed: bool | None = None


@handles_errors
async def create_visit(request: Request) -> Response:
    body = await read_body(request, CreateVisitBody)
    view = await node_of(request).rota.create_visit(
        await staff_of(request),
        client_id=body.client_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        carer_ids=body.carer_ids,
        tasks_=[NewTask(t.title) for t in body.tasks],
        notes=body.notes,
    )
    return json_response(view, 201)


@handles_errors
async def get_visit(request: Request) -> Response:
    staff = await staff_of(request)
    return json_response(await node_of(request).rota.get_visit(staff, request.path_params["visit_id"]))


@handles_errors
async def update_visit(request: Request) -> Response:
    body = await read_body(request, NotesBody)
    staff = await staff_of(request)
    return json_response(await node_of(request).rota.update_notes(staff, request.path_params["visit_id"], body.notes))


@handles_errors
async def reschedule(request: Request) -> Response:
    body = await read_body(request, RescheduleBody)
    staff = await staff_of(request)
    rota = node_of(request).rota
    return json_response(await rota.reschedule(staff, request.path_params["visit_id"], body.starts_at, body.ends_at))


@handles_errors
async def reassign(request: Request) -> Response:
    body = await read_body(request, ReassignBody)
    staff = await staff_of(request)
    return json_response(await node_of(request).rota.reassign(staff, request.path_params["visit_id"], body.carer_ids))


@handles_errors
async def cancel(request: Request) -> Response:
    staff = await staff_of(request)
    return json_response(await node_of(request).rota.cancel(staff, request.path_params["visit_id"]))


@handles_errors
async def add_task(request: Request) -> Response:
    body = await read_body(request, TaskBody)
    staff = await staff_of(request)
    view = await node_of(request).rota.add_task(staff, request.path_params["visit_id"], body.title)
    return json_response(view, 201)


@handles_errors
async def change_task(request: Request) -> Response:
    body = await read_body(request, ChangeTaskBody)
    staff = await staff_of(request)
    view = await node_of(request).rota.change_task(
        staff,
        request.path_params["visit_id"],
        request.path_params["task_id"],
        title=body.title,
        removed=body.removed,
    )
    return json_response(view)


def _window(request: Request) -> tuple[datetime, datetime]:
    """``?from=&to=`` as RFC 3339 times; default: today (UTC) and the next 14 days."""
    try:
        since = _parse(request.query_params.get("from"))
        until = _parse(request.query_params.get("to"))
    except ValueError as exc:
        raise InvalidInput(f"from/to must be RFC 3339 times with an offset: {exc}") from exc
    start = since or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, until or start + timedelta(days=15)


def _parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no offset")
    return moment


@handles_errors
async def branch_visits(request: Request) -> Response:
    staff = await staff_of(request)
    since, until = _window(request)
    visits = await node_of(request).rota.branch_visits(staff, request.path_params["branch_id"], since, until)
    return json_response({"visits": visits})


@handles_errors
async def carer_visits(request: Request) -> Response:
    staff = await staff_of(request)
    since, until = _window(request)
    visits = await node_of(request).rota.carer_visits(staff, request.path_params["carer_id"], since, until)
    return json_response({"visits": visits})


routes = [
    Route("/api/v1/visits", create_visit, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}", get_visit, methods=["GET"]),
    Route("/api/v1/visits/{visit_id}", update_visit, methods=["PATCH"]),
    Route("/api/v1/visits/{visit_id}/reschedule", reschedule, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/reassign", reassign, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/cancel", cancel, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/tasks", add_task, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/tasks/{task_id}", change_task, methods=["PATCH"]),
    Route("/api/v1/branches/{branch_id}/visits", branch_visits, methods=["GET"]),
    Route("/api/v1/carers/{carer_id}/visits", carer_visits, methods=["GET"]),
]
