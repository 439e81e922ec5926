"""Console devices page: list and filter a branch's phones, enrol one for a carer (a
one-time code as text and as a QR code), rename, revoke, deactivate and reactivate.

Coordinators manage the devices of their branch (a device belongs to its own branch and
to its carers' branches), admins every device. Each action is confirmed in the page,
recorded in the device audit with who did it, and reaches the phone at once through the
device effects (a revoked or deactivated phone's socket is closed 4101).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.clock import to_datetime
from server.console.guard import node_of, page_context, signed_in
from server.console.notices import notice_of
from server.console.pages_office import visible_branches
from server.console.qr import enrolment_link, qr_svg
from server.console.session import check_csrf
from server.console.templating import render
from server.services import device_audit
from server.services.device_report import DeviceReport, ReportQuery
from server.services.device_scope import require_visible_carer, require_visible_device
from server.services.errors import InvalidInput
from server.services.identity import Staff
from server.store.schema import users

STATES = ("active", "awaiting enrolment", "revoked", "deactivated")


async def _carers(request: Request, staff: Staff) -> list[tuple[str, str]]:
    query = select(users.c.id, users.c.name).where(users.c.tenant_id == staff.tenant_id, users.c.role == "carer")
    if staff.role != "admin":
        query = query.where(users.c.branch_id == staff.branch_id)
    async with node_of(request).db.read() as conn:
        return [(r.id, r.name) for r in await conn.execute(query.order_by(users.c.name))]


@signed_in
async def devices_page(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    params = request.query_params
    state = params.get("state") or None
    if state is not None and state not in STATES:
        raise InvalidInput(f"state is one of: {', '.join(STATES)}")
    query = ReportQuery(
        branch_id=params.get("branch_id") or None, user_id=params.get("carer_id") or None, page_size=None
    )
    page = await DeviceReport(node.db, node.clock).build(staff, query)
    rows = [r for r in page.rows if state is None or r.state == state]
    async with node.db.read() as conn:
        history = await device_audit.recent(conn, staff.tenant_id, [r.device_id for r in page.rows])
    return render(
        request,
        "devices.html",
        rows=rows,
        history=history,
        states=STATES,
        carers=await _carers(request, staff),
        branches=await visible_branches(request, staff),
        params=dict(params),
        message=notice_of(request),
        **await page_context(request, staff),
    )


async def _form(request: Request) -> FormData:
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    return form


async def _enrolment(request: Request, staff: Staff, device_id: str, device_name: str, status: int) -> Response:
    node = node_of(request)
    issued = await node.devices.issue_enrolment_code(staff.tenant_id, device_id, actor_id=staff.user_id)
    server_url = str(request.base_url).rstrip("/")
    return render(
        request,
        "enrolment.html",
        status=status,
        device_name=device_name,
        code=issued.code,
        expires_at=to_datetime(issued.expires_at_ms),
        qr=qr_svg(enrolment_link(server_url, issued.code), f"QR code to enrol {device_name}"),
        server_url=server_url,
        **await page_context(request, staff),
    )


@signed_in
async def enrol(request: Request, staff: Staff) -> Response:
    """A new device for a carer, and its one-time enrolment code (never in a URL)."""
    form = await _form(request)
    carer_id = str(form.get("carer_id", ""))
    node = node_of(request)
    async with node.db.read() as conn:
        carer_name = await require_visible_carer(conn, staff, carer_id)
    name = str(form.get("name", "")).strip() or f"{carer_name}'s phone"
    created = await node.devices.create_device(
        staff.tenant_id, name=name, carer_ids=[carer_id], issue_token=False, actor_id=staff.user_id
    )
    return await _enrolment(request, staff, created.device_id, name, 201)


async def _device(request: Request, staff: Staff) -> tuple[FormData, str, str]:
    form = await _form(request)
    device_id = request.path_params["device_id"]
    async with node_of(request).db.read() as conn:
        name = await require_visible_device(conn, staff, device_id)
    return form, device_id, name


@signed_in
async def new_code(request: Request, staff: Staff) -> Response:
    _form_data, device_id, name = await _device(request, staff)
    return await _enrolment(request, staff, device_id, name, 201)


def _done(said: str) -> Response:
    return RedirectResponse(f"/console/devices?message={said}", status_code=303)


@signed_in
async def rename(request: Request, staff: Staff) -> Response:
    form, device_id, _name = await _device(request, staff)
    await node_of(request).devices.rename(staff.tenant_id, device_id, str(form.get("name", "")), staff.user_id)
    return _done("device-renamed")


@signed_in
async def revoke(request: Request, staff: Staff) -> Response:
    _form_data, device_id, _name = await _device(request, staff)
    await node_of(request).devices.revoke(staff.tenant_id, device_id, staff.user_id)
    return _done("device-revoked")


@signed_in
async def deactivate(request: Request, staff: Staff) -> Response:
    _form_data, device_id, _name = await _device(request, staff)
    await node_of(request).devices.deactivate(staff.tenant_id, device_id, staff.user_id)
    return _done("device-deactivated")


@signed_in
async def reactivate(request: Request, staff: Staff) -> Response:
    _form_data, device_id, _name = await _device(request, staff)
    await node_of(request).devices.reactivate(staff.tenant_id, device_id, staff.user_id)
    return _done("device-reactivated")


routes = [
    Route("/console/devices", devices_page, methods=["GET"]),
    Route("/console/devices/enrol", enrol, methods=["POST"]),
    Route("/console/devices/{device_id}/code", new_code, methods=["POST"]),
    Route("/console/devices/{device_id}/rename", rename, methods=["POST"]),
    Route("/console/devices/{device_id}/revoke", revoke, methods=["POST"]),
    Route("/console/devices/{device_id}/deactivate", deactivate, methods=["POST"]),
    Route("/console/devices/{device_id}/reactivate", reactivate, methods=["POST"]),
]
