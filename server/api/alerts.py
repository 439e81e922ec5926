"""Office endpoints for sync-mismatch alerts and staff sign-in."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.codec import decode_as
from server.api.http import (
    bearer,
    client_address,
    error_response,
    handles_errors,
    json_response,
    node_of,
    read_body,
    staff_of,
)
from server.api.request_guards import BodyTooLarge
from server.api.small_bodies import SIGN_IN_BODY_BYTES, closing, read_small
from server.clock import to_datetime
from server.services.errors import InvalidInput
from server.services.mismatch.listing import AlertDesk, AlertFilter

_FILTERS = {"status", "branch_id", "severity", "carer_id", "limit"}


class SignInBody(msgspec.Struct):
    login: str
    password: str
    tenant_id: str | None = None
    """Needed only when the same login exists in several agencies."""


class PasswordBody(msgspec.Struct):
    login: str
    password: str


def _desk(request: Request) -> AlertDesk:
    node = node_of(request)
    return AlertDesk(node.db, node.clock, node.mismatch)


@handles_errors
async def sign_in(request: Request) -> Response:
    try:
        raw = await read_small(request, SIGN_IN_BODY_BYTES)
    except BodyTooLarge as exc:
        return closing(error_response(413, exc.code, exc.message))
    body = decode_as(SignInBody, raw)
    auth = node_of(request).staff_auth
    signed = await auth.sign_in(body.login, body.password, client=client_address(request), tenant_id=body.tenant_id)
    return json_response(
        {
            "token": signed.token,
            "expires_at": to_datetime(signed.expires_at_ms),
            "user": {"id": signed.user_id, "name": signed.name, "role": signed.role, "branch_id": signed.branch_id},
        }
    )


@handles_errors
async def sign_out(request: Request) -> Response:
    await staff_of(request)
    await node_of(request).staff_auth.sign_out(bearer(request))
    return json_response({"signed_out": True})


@handles_errors
async def set_password(request: Request) -> Response:
    """An admin sets an office user's login and password."""
    staff = await staff_of(request)
    body = await read_body(request, PasswordBody)
    staff.require_admin()
    await node_of(request).staff_auth.set_password(
        staff.tenant_id, request.path_params["user_id"], body.login, body.password
    )
    return json_response({"id": request.path_params["user_id"], "login": body.login.strip().lower()})


@handles_errors
async def list_alerts(request: Request) -> Response:
    staff = await staff_of(request)
    params = request.query_params
    unknown = sorted(set(params) - _FILTERS)
    if unknown:
        raise InvalidInput(f"unknown filter(s): {', '.join(unknown)}; use {', '.join(sorted(_FILTERS))}")
    try:
        limit = int(params.get("limit", "100"))
    except ValueError as exc:
        raise InvalidInput("limit must be a whole number") from exc
    wanted = AlertFilter(
        status=params.get("status", "open"),
        branch_id=params.get("branch_id"),
        severity=params.get("severity"),
        carer_id=params.get("carer_id"),
        limit=limit,
    )
    return json_response({"alerts": await _desk(request).list(staff, wanted)})


@handles_errors
async def get_alert(request: Request) -> Response:
    staff = await staff_of(request)
    return json_response(await _desk(request).get(staff, request.path_params["alert_id"]))


@handles_errors
async def dismiss_alert(request: Request) -> Response:
    staff = await staff_of(request)
    return json_response(await _desk(request).dismiss(staff, request.path_params["alert_id"]))


routes = [
    Route("/api/v1/auth/sign-in", sign_in, methods=["POST"]),
    Route("/api/v1/auth/sign-out", sign_out, methods=["POST"]),
    Route("/api/v1/users/{user_id}/password", set_password, methods=["PUT"]),
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}", get_alert, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/dismiss", dismiss_alert, methods=["POST"]),
]
