"""Console pages: the User Device Relationship report and a carer's view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.console.guard import node_of, page_context, signed_in
from server.console.live_positions import live_positions_json
from server.console.notices import notice_of
from server.console.session import check_csrf
from server.console.templating import render
from server.console.visit_facts import visit_facts
from server.services.carer_changes import recent_changes
from server.services.contacts import checked_contact, contacts_of, set_contact
from server.services.device_report import COLUMNS, DeviceReport, ReportQuery, to_csv
from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff
from server.services.mismatch.listing import AlertDesk, AlertFilter
from server.store.schema import branches, users

REPORT_PAGE_SIZE = 50

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
    try:
        page = int(params.get("page") or "1")
    except ValueError as exc:
        raise InvalidInput("the page is a whole number") from exc
    return ReportQuery(
        branch_id=params.get("branch_id") or None,
        user_id=params.get("user_id") or None,
        stale=None if stale is None else stale == "true",
        sort=sort,
        descending=params.get("order") == "desc",
        page=page if page_size is not None else 1,
        page_size=page_size,
        search=(params.get("q") or "").strip()[:100] or None,
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
    query = _report_query(request, REPORT_PAGE_SIZE)
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
        pages=max(1, -(-page.total // REPORT_PAGE_SIZE)),
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
    positions_json = await live_positions_json(node, staff)  # before the visits: see live_positions
    report = await DeviceReport(node.db, node.clock).build(staff, ReportQuery(user_id=carer_id, page_size=None))
    alerts = await AlertDesk(node.db, node.clock, node.mismatch).list(
        staff,
        AlertFilter(status="open", carer_id=carer_id, branch_id=carer.branch_id if staff.role == "admin" else None),
    )
    async with node.db.read() as conn:
        contacts = await contacts_of(conn, staff.tenant_id, [carer_id])
        changes = await recent_changes(conn, staff, carer_id)
    context = await page_context(request, staff)
    zone = ZoneInfo(context.pop("timezone"))
    today = datetime.fromtimestamp(node.clock.now_ms() / 1000, tz=UTC).astimezone(zone)
    since = today.replace(hour=0, minute=0, second=0, microsecond=0)
    todays = await node.rota.carer_visits(staff, carer_id, since, since + timedelta(days=1))
    facts = await visit_facts(node.db, node.clock, staff, todays)
    return render(
        request,
        "carer.html",
        carer=carer,
        devices=report.rows,
        alerts=alerts,
        contacts=contacts,
        visits=todays,
        facts=facts,
        changes=changes,
        timezone=str(zone),
        message=notice_of(request),
        positions_json=positions_json,
        **context,
    )


@signed_in
async def carer_contact(request: Request, staff: Staff) -> Response:
    """Set how the office reaches a carer: a phone number and optional notes."""
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    carer_id = request.path_params["carer_id"]
    contact = checked_contact(str(form.get("phone", "")), str(form.get("notes", "")))
    await set_contact(node_of(request).db, staff, carer_id, contact)
    return RedirectResponse(f"/console/carers/{carer_id}?message=contact-saved", status_code=303)


async def home(request: Request) -> Response:
    return RedirectResponse("/console/notifications", status_code=303)


routes = [
    Route("/console", home, methods=["GET"]),
    Route("/console/reports/devices", device_report, methods=["GET"]),
    Route("/console/reports/devices.csv", device_report_csv, methods=["GET"]),
    Route("/console/carers/{carer_id}", carer_view, methods=["GET"]),
    Route("/console/carers/{carer_id}/contact", carer_contact, methods=["POST"]),
]
