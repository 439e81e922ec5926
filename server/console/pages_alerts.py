"""Console pages: sign-in, sign-out and the live sync notifications (with the X)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.api.http import client_address
from server.api.small_bodies import SIGN_IN_BODY_BYTES, closing, declared_over
from server.console.contacts_view import visible_contacts
from server.console.guard import node_of, page_context, signed_in
from server.console.live_positions import live_positions
from server.console.notices import notice_of
from server.console.session import CSRF_COOKIE, SESSION_COOKIE, check_csrf, cookies_secure, new_csrf_token
from server.console.templating import render
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from server.services.identity import Staff
from server.services.mismatch.listing import AlertDesk, AlertFilter
from server.services.throttle import TooManyAttempts
from server.tunables import STAFF_TOKEN_TTL_S


async def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", message=notice_of(request), login=None, staff=None)


async def sign_in(request: Request) -> Response:
    if declared_over(request, SIGN_IN_BODY_BYTES):  # refused unread: no sign-in is that large
        refused = render(request, "sign_in.html", status=413, message="Sign-in form too large.", login=None, staff=None)
        return closing(refused)
    form = await request.form()
    try:
        await check_csrf(request, str(form.get("csrf_token", "")))
    except Forbidden as exc:
        return render(request, "sign_in.html", status=403, message=exc.message, login=None, staff=None)
    login, password = str(form.get("login", "")), str(form.get("password", ""))
    try:
        signed = await node_of(request).staff_auth.sign_in(login, password, client=client_address(request))
    except TooManyAttempts as exc:
        refused = render(request, "sign_in.html", status=429, message=exc.message, login=login, staff=None)
        refused.headers["retry-after"] = str(exc.retry_after_s)
        return refused
    except Forbidden as exc:
        return render(request, "sign_in.html", status=403, message=exc.message, login=login, staff=None)
    except InvalidInput as exc:  # a login or password longer than any: not shown back
        return render(request, "sign_in.html", status=422, message=exc.message, login=None, staff=None)
    except Unauthorized:
        return render(request, "sign_in.html", status=401, message="Wrong login or password.", login=login, staff=None)
    response = RedirectResponse("/console/notifications", status_code=303)
    secure = cookies_secure(request)
    response.set_cookie(
        SESSION_COOKIE, signed.token, max_age=STAFF_TOKEN_TTL_S, httponly=True, samesite="lax", path="/", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, new_csrf_token(), httponly=False, samesite="strict", path="/console", secure=secure
    )
    return response


@signed_in
async def sign_out(request: Request, staff: Staff) -> Response:
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token", "")))
    await node_of(request).staff_auth.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/console/sign-in?message=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=cookies_secure(request), httponly=True, samesite="lax")
    return response


@signed_in
async def notifications(request: Request, staff: Staff) -> Response:
    node = node_of(request)
    # Heads first, then alerts: an event in between is replayed, and replays are idempotent.
    positions = await live_positions(node, staff)
    recent = await AlertDesk(node.db, node.clock, node.mismatch).list(staff, AlertFilter(status="recent", limit=500))
    alerts = [a for a in recent if a.status == "open"]
    closed = sorted((a for a in recent if a.status != "open"), key=lambda a: a.closed_at or a.updated_at, reverse=True)
    context = await page_context(request, staff)
    positions_json = msgspec.json.encode(positions).decode()
    contacts = await visible_contacts(node.db, staff)
    return render(
        request,
        "notifications.html",
        alerts=alerts,
        closed=closed,
        positions_json=positions_json,
        contacts=contacts,
        contacts_json=msgspec.json.encode(contacts).decode(),
        **context,
    )


@signed_in
async def dismiss(request: Request, staff: Staff) -> Response:
    try:
        await check_csrf(request)
    except Forbidden as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=403)
    node = node_of(request)
    try:
        view = await AlertDesk(node.db, node.clock, node.mismatch).dismiss(staff, request.path_params["alert_id"])
    except (Forbidden, NotFound, Conflict) as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
    return JSONResponse({"id": view.id, "status": view.status})


routes = [
    Route("/console/sign-in", sign_in_page, methods=["GET"]),
    Route("/console/sign-in", sign_in, methods=["POST"]),
    Route("/console/sign-out", sign_out, methods=["POST"]),
    Route("/console/notifications", notifications, methods=["GET"]),
    Route("/console/alerts/{alert_id}/dismiss", dismiss, methods=["POST"]),
]
