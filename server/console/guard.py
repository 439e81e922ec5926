"""Wrapping console pages: sign-in redirects, error pages, the signed-in staff member."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.console.session import SignInRequired, staff_from_cookie
from server.console.templating import render
from server.node import Node
from server.services.errors import ServiceError
from server.services.identity import Staff
from server.store.schema import tenants, users

Page = Callable[[Request, Staff], Awaitable[Response]]


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def page_context(request: Request, staff: Staff) -> dict[str, Any]:
    """What every signed-in page shows: who, and the tenant's time zone."""
    async with node_of(request).db.read() as conn:
        name = (await conn.execute(select(users.c.name).where(users.c.id == staff.user_id))).scalar_one()
        zone = (await conn.execute(select(tenants.c.timezone).where(tenants.c.id == staff.tenant_id))).scalar_one()
    return {"staff": staff, "staff_name": name, "timezone": zone}


_BACK_NAMES = {
    "/console/rota": "the rota",
    "/console/devices": "devices",
    "/console/reports/devices": "the report",
    "/console/reports/visit-verification": "visit verification",
    "/console/carers": "the carer's page",
}


def back_link(request: Request) -> tuple[str, str]:
    """Where an error page leads back to, and its name: the console page the request came
    from (a form posts from it), else the notifications."""
    referer = urlsplit(request.headers.get("referer", ""))
    path = referer.path if referer.netloc == request.url.netloc else ""
    if request.method == "GET" or not path.startswith("/console/"):
        path = request.url.path if request.method == "GET" else path
    for prefix, name in _BACK_NAMES.items():
        if path.startswith(prefix):
            query = referer.query if referer.path == path else ""
            return (path + ("?" + query if query else ""), name)
    return ("/console/notifications", "notifications")


def signed_in(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Run ``page`` for the signed-in staff member; otherwise go to sign-in."""

    async def endpoint(request: Request) -> Response:
        response = await guarded(request)
        response.headers["cache-control"] = "no-store"  # signed-in content stays out of caches
        return response

    async def guarded(request: Request) -> Response:
        try:
            staff = await staff_from_cookie(request, node_of(request))
        except SignInRequired as exc:
            if request.method != "GET" or request.url.path.endswith(".csv"):
                return Response(exc.reason, status_code=401)
            return RedirectResponse(f"/console/sign-in?message={exc.code}", status_code=303)
        try:
            return await page(request, staff)
        except ServiceError as exc:
            heading = {403: "Not allowed", 404: "Not found"}.get(exc.status, "Cannot do that")
            context = await page_context(request, staff)
            back = back_link(request)
            return render(
                request, "error.html", status=exc.status, heading=heading, message=exc.message, back=back, **context
            )

    endpoint.__name__ = page.__name__
    return endpoint
