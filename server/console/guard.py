"""Wrapping console pages: sign-in redirects, error pages, the signed-in staff member."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
            return render(request, "error.html", status=exc.status, heading=heading, message=exc.message, **context)

    endpoint.__name__ = page.__name__
    return endpoint
