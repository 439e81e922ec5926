"""Console pages: the User Device Relationship report, the rota and a carer's view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.console.guard import node_of, page_context, signed_in
from server.console.notices import notice_of
from server.console.session import check_csrf
from server.console.templating import render
from server.services.device_report import COLUMNS, DeviceReport, ReportQuery, to_csv
from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff
from server.services.mismatch.listing import AlertDesk, AlertFilter
from server.store.schema import branches, users

REPORT_COLUMNS = [
    ("device_name", "Device name"),
    ("users", "Users"),
    ("branch_name", "Branch"),
    ("last_api_call_at", "Last API call time"),
    ("last_api_call_ok", "Last API call success"),
    ("last_successful_sync_at", "Last successful sync"),
    ("app_version", "App version"),
    ("uuid", "UUID"),
    ("connected_now", "Connected now"),
    ("sync_lag_changes", "Sync lag (changes)"),
    ("stale", "Stale"),
    ("state", "State"),
]


def _report_query(request: Request, page_size: int | None) -> ReportQuery:
    params = request.query_params
    sort = params.get("sort", "device_name")
    if sort not in COLUMNS:
        raise InvalidInput(f"cannot sort on {sort}")
    stale = params.get("stale") or None
    return ReportQuery(
        branch_id=params.get("branch_id") or None,
        user_id=params.get("user_id") or None,
        stale=None if stale is None else stale == "true",
        sort=sort,
        descending=params.get("order") == "desc",
        page_size=page_size,
    )


async def visible_branches(request: Request, staff: Staff) -> list[tuple[str, str]]:
    """The branches this user may see, by name: (id, name)."""
    query = select(branches.c.id, branches.c.name).where(branches.c.tenant_id == staff.tenant_id)
    if staff.role != "admin":
        query = query.where(branches.c.id == staff.branch_id)
    async with node_of(request).db.read() as conn:
        return [(r.id, r.name) for r in await conn.execute(query.order_by(branches.c.name))]


@signed_in
async def device_report(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    query = _report_query(request, None)
    page = await DeviceReport(node.db, node.clock).build(staff, query)
    query_carers = select(users.c.id, users.c.name).where(users.c.tenant_id == staff.tenant_id, users.c.role == "carer")
    if staff.role != "admin":
        query_carers = query_carers.where(users.c.branch_id == staff.branch_id)
    async with node.db.read() as conn:
        carers = [(r.id, r.name) for r in await conn.execute(query_carers.order_by(users.c.name))]
    return render(
        request,
        "report.html",
        rows=page.rows,
        total=page.total,
        columns=REPORT_COLUMNS,
        query=query,
        branches=await visible_branches(request, staff),
        carers=carers,
        params=dict(request.query_params),
        **await page_context(request, staff),
    )


@signed_in
async def device_report_csv(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    page = await DeviceReport(node.db, node.clock).build(staff, _report_query(request, None))
    return Response(
        to_csv(page),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="user-device-relationship.csv"'},
    )


@signed_in
async def rota(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    context = await page_context(request, staff)
    visible = await visible_branches(request, staff)
    branch_id = request.query_params.get("branch_id") or (visible[0][0] if visible else None)
    if branch_id is None:
        raise NotFound("no branch to show")
    staff.require_branch(branch_id)
    zone = ZoneInfo(context["timezone"])
    today = datetime.now(UTC).astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    visits = await node.rota.branch_visits(staff, branch_id, today, today + timedelta(days=2))
    async with node.db.read() as conn:
        carers = [
            (r.id, r.name)
            for r in await conn.execute(
                select(users.c.id, users.c.name)
                .where(users.c.tenant_id == staff.tenant_id, users.c.role == "carer", users.c.branch_id == branch_id)
                .order_by(users.c.name)
            )
        ]
    names = dict(carers)
    return render(
        request,
        "rota.html",
        visits=visits,
        carers=carers,
        names=names,
        branches=visible,
        branch_id=branch_id,
        message=notice_of(request),
        **context,
    )


@signed_in
async def rota_action(request: Request, staff: Staff) -> Response:
    """Reschedule (new local start time), reassign or cancel one visit from the rota page."""
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    node = node_of(request)
    visit_id, action = request.path_params["visit_id"], request.path_params["action"]
    visit = await node.rota.get_visit(staff, visit_id)
    context = await page_context(request, staff)
    if action == "reschedule":
        try:
            hours, minutes = (int(x) for x in str(form.get("start", "")).split(":"))
            local = visit.starts_at.astimezone(ZoneInfo(context["timezone"]))
            starts = local.replace(hour=hours, minute=minutes)
        except ValueError as exc:
            raise InvalidInput("give the new start as HH:MM") from exc
        await node.rota.reschedule(staff, visit_id, starts, starts + (visit.ends_at - visit.starts_at))
        said = "rescheduled"
    elif action == "reassign":
        carer_ids = [str(c) for c in form.getlist("carer_ids") if c]
        await node.rota.reassign(staff, visit_id, carer_ids)
        said = "reassigned"
    elif action == "cancel":
        await node.rota.cancel(staff, visit_id)
        said = "cancelled"
    else:
        raise NotFound(f"unknown action {action}")
    return RedirectResponse(f"/console/rota?branch_id={visit.branch_id}&message={said}", status_code=303)


@signed_in
async def carer_view(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    carer_id = request.path_params["carer_id"]
    async with node.db.read() as conn:
        carer = (
            await conn.execute(
                select(users).where(
                    users.c.id == carer_id, users.c.tenant_id == staff.tenant_id, users.c.role == "carer"
                )
            )
        ).first()
    if carer is None or not staff.may_see_branch(carer.branch_id):
        raise NotFound("no such carer in your branches")
    report = await DeviceReport(node.db, node.clock).build(staff, ReportQuery(user_id=carer_id, page_size=None))
    alerts = await AlertDesk(node.db, node.clock, node.mismatch).list(
        staff,
        AlertFilter(status="open", carer_id=carer_id, branch_id=carer.branch_id if staff.role == "admin" else None),
    )
    return render(
        request, "carer.html", carer=carer, devices=report.rows, alerts=alerts, **await page_context(request, staff)
    )


async def home(request: Request) -> Response:
    return RedirectResponse("/console/notifications", status_code=303)


routes = [
    Route("/console", home, methods=["GET"]),
    Route("/console/reports/devices", device_report, methods=["GET"]),
    Route("/console/reports/devices.csv", device_report_csv, methods=["GET"]),
    Route("/console/rota", rota, methods=["GET"]),
    Route("/console/rota/visits/{visit_id}/{action}", rota_action, methods=["POST"]),
    Route("/console/carers/{carer_id}", carer_view, methods=["GET"]),
]
