"""Console rota: a branch's week (or one day) with previous/next and a date picker; create
a visit, move one to another day and time, reassign (a searchable carer picker that keeps
double-ups), change its notes (optionally marked as needing the carers' acknowledgement),
cancel and reinstate. A change starting in the past or overlapping a carer's
other visit is asked about first. Each visit shows its status (scheduled, in progress,
completed, late, missed, cancelled: server/services/visit_status.py), whether its carers'
phones have its latest change (delivered) or will get it when they connect (queued), and
whether each carer whose phone has it has seen it, and when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.console.guard import node_of, page_context, signed_in
from server.console.live_positions import live_positions_json
from server.console.notices import notice_of
from server.console.pages_office import visible_branches
from server.console.rota_warnings import warnings_for
from server.console.rota_window import local_moment, window_for
from server.console.session import check_csrf
from server.console.templating import render
from server.console.visit_facts import visit_facts
from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff
from server.services.rota import NewTask
from server.store.schema import clients, users


async def _people(
    request: Request, staff: Staff, branch_id: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The branch's carers and clients, by name."""
    async with node_of(request).db.read() as conn:
        carers = [
            (r.id, r.name)
            for r in await conn.execute(
                select(users.c.id, users.c.name)
                .where(users.c.tenant_id == staff.tenant_id, users.c.role == "carer", users.c.branch_id == branch_id)
                .order_by(users.c.name)
            )
        ]
        found = [
            (r.id, r.name)
            for r in await conn.execute(
                select(clients.c.id, clients.c.name)
                .where(clients.c.tenant_id == staff.tenant_id, clients.c.branch_id == branch_id)
                .order_by(clients.c.name)
            )
        ]
    return carers, found


@signed_in
async def rota(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    context = await page_context(request, staff)
    visible = await visible_branches(request, staff)
    params = request.query_params
    branch_id = params.get("branch_id") or (visible[0][0] if visible else None)
    if branch_id is None:
        raise NotFound("no branch to show")
    staff.require_branch(branch_id)
    positions_json = await live_positions_json(node, staff)  # before the visits: see live_positions
    zone = ZoneInfo(context["timezone"])
    today = datetime.fromtimestamp(node.clock.now_ms() / 1000, tz=UTC).astimezone(zone).date()
    window = window_for(params.get("view"), params.get("date") or params.get("day"), today, zone)
    visits = await node.rota.branch_visits(staff, branch_id, window.since(), window.until())
    carers, client_list = await _people(request, staff, branch_id)
    facts = await visit_facts(node.db, node.clock, staff, visits)
    by_day = {d: [v for v in visits if v.starts_at.astimezone(zone).date() == d] for d in window.dates}
    return render(
        request,
        "rota.html",
        window=window,
        today=today,
        by_day=by_day,
        visits=visits,
        waiting_phones={v.id: _waiting(v.id, v.carer_ids, facts.delivered) for v in visits},
        states=facts.states,
        seen_by=facts.seen_by,
        facts=facts,
        carers=carers,
        carers_json=[{"id": i, "name": n} for i, n in carers],
        clients=client_list,
        names=dict(carers),
        branches=visible,
        branch_id=branch_id,
        message=notice_of(request),
        positions_json=positions_json,
        **context,
    )


def _waiting(visit_id: str, carer_ids: list[str], delivered: dict[tuple[str, str], str]) -> list[tuple[str, list[str]]]:
    """The carers whose phones do not have the visit's latest change, by state (queued, no phone)."""
    states: dict[str, list[str]] = {}
    for carer_id in carer_ids:
        state = delivered[(visit_id, carer_id)]
        if state != "delivered":
            states.setdefault(state, []).append(carer_id)
    return sorted(states.items())


def _back(branch_id: str, day: str, view: str, said: str) -> Response:
    query = urlencode({"branch_id": branch_id, "date": day, "view": view, "message": said})
    return RedirectResponse(f"/console/rota?{query}", status_code=303)


async def _confirm(
    request: Request, staff: Staff, form: FormData, warnings: list[str], back: str, action: str
) -> Response | None:
    """The warnings page (200, changing nothing) unless there is nothing to ask or the
    coordinator already said go ahead."""
    if not warnings or form.get("confirmed") == "yes":
        return None
    fields = [(k, str(v)) for k, v in form.multi_items() if k not in ("csrf_token", "confirmed")]
    return render(
        request,
        "rota_confirm.html",
        warnings=warnings,
        fields=fields,
        action=action,
        back=back,
        **await page_context(request, staff),
    )


def _view_of(form: Mapping[str, object]) -> str:
    return "day" if form.get("view") == "day" else "week"


def _marked(form: Mapping[str, object]) -> bool:
    """The "carers must acknowledge these notes" box was ticked."""
    return form.get("needs_seen") == "yes"


@signed_in
async def create_visit(request: Request, staff: Staff) -> Response:
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    node = node_of(request)
    zone = ZoneInfo((await page_context(request, staff))["timezone"])
    day = str(form.get("date", ""))
    starts = local_moment(day, str(form.get("start", "")), zone, "start")
    ends = local_moment(day, str(form.get("end", "")), zone, "end")
    client_id = str(form.get("client_id", ""))
    carer_ids = [str(c) for c in form.getlist("carer_ids") if c]
    tasks = [NewTask(t.strip()) for t in str(form.get("tasks", "")).split(",") if t.strip()]
    async with node.db.read() as conn:
        client = (
            await conn.execute(
                select(clients.c.branch_id).where(clients.c.id == client_id, clients.c.tenant_id == staff.tenant_id)
            )
        ).first()
    if client is None:
        raise InvalidInput("Choose a client.")
    staff.require_branch(client.branch_id)
    carers, _ = await _people(request, staff, client.branch_id)
    back = f"/console/rota?{urlencode({'branch_id': client.branch_id, 'date': day})}"
    warnings = await warnings_for(
        node, staff, starts=starts, ends=ends, carer_ids=carer_ids, names=dict(carers), zone=zone
    )
    asked = await _confirm(request, staff, form, warnings, back, "/console/rota/visits")
    if asked is not None:
        return asked
    await node.rota.create_visit(
        staff,
        client_id=client_id,
        starts_at=starts,
        ends_at=ends,
        carer_ids=carer_ids,
        tasks_=tasks,
        notes=str(form.get("notes", "")),
        needs_seen=_marked(form),
    )
    return _back(client.branch_id, day, _view_of(form), "created")


@signed_in
async def rota_action(request: Request, staff: Staff) -> Response:
    """Move (new day and start), reassign, change the notes of, cancel or reinstate one
    visit from the rota page."""
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    node = node_of(request)
    visit_id, action = request.path_params["visit_id"], request.path_params["action"]
    visit = await node.rota.get_visit(staff, visit_id)
    zone = ZoneInfo((await page_context(request, staff))["timezone"])
    local = visit.starts_at.astimezone(zone)
    day = str(form.get("date", "")) or local.date().isoformat()
    back = f"/console/rota?{urlencode({'branch_id': visit.branch_id, 'date': day})}"
    if action == "reschedule":
        starts = local_moment(day, str(form.get("start", "")), zone, "start")
        ends = starts + (visit.ends_at - visit.starts_at)
        carers, _ = await _people(request, staff, visit.branch_id)
        warnings = await warnings_for(
            node,
            staff,
            starts=starts,
            ends=ends,
            carer_ids=visit.carer_ids,
            names=dict(carers),
            zone=zone,
            visit_id=visit_id,
        )
        asked = await _confirm(request, staff, form, warnings, back, f"/console/rota/visits/{visit_id}/reschedule")
        if asked is not None:
            return asked
        await node.rota.reschedule(staff, visit_id, starts, ends)
        return _back(visit.branch_id, starts.date().isoformat(), _view_of(form), "rescheduled")
    if action == "reassign":
        carer_ids = list(dict.fromkeys(str(c) for c in form.getlist("carer_ids") if c))
        added = [c for c in carer_ids if c not in visit.carer_ids]
        if added:
            carers, _ = await _people(request, staff, visit.branch_id)
            warnings = await warnings_for(
                node,
                staff,
                starts=visit.starts_at,
                ends=visit.ends_at,
                carer_ids=added,
                names=dict(carers),
                zone=zone,
                visit_id=visit_id,
            )
            asked = await _confirm(request, staff, form, warnings, back, f"/console/rota/visits/{visit_id}/reassign")
            if asked is not None:
                return asked
        await node.rota.reassign(staff, visit_id, carer_ids)
        said = "reassigned"
    elif action == "notes":
        marked = _marked(form)
        await node.rota.update_notes(staff, visit_id, str(form.get("notes", "")), needs_seen=marked)
        said = "notes-to-acknowledge" if marked else "notes-changed"
    elif action == "cancel":
        await node.rota.cancel(staff, visit_id)
        said = "cancelled"
    elif action == "reinstate":
        await node.rota.reinstate(staff, visit_id)
        said = "reinstated"
    else:
        raise NotFound(f"unknown action {action}")
    return _back(visit.branch_id, day, _view_of(form), said)


routes = [
    Route("/console/rota", rota, methods=["GET"]),
    Route("/console/rota/visits", create_visit, methods=["POST"]),
    Route("/console/rota/visits/{visit_id}/{action}", rota_action, methods=["POST"]),
]
