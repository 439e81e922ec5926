"""Admin endpoints for branches, users and clients."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, read_body, staff_of
from server.clock import to_datetime
from server.services.identity import Staff
from server.services.preferences import PreferenceChange, change_preferences
from server.services.staff_tokens import TokenInfo
from server.services.tenant_prefs import load_all_preferences


class BranchBody(msgspec.Struct):
    name: str


class UserBody(msgspec.Struct):
    name: str
    role: str
    branch_id: str | None = None


class TokenBody(msgspec.Struct):
    name: str = "API token"
    ttl_s: int | None = None


class ClientBody(msgspec.Struct):
    name: str
    branch_id: str
    address: str = ""


@handles_errors
async def create_branch(request: Request) -> Response:
    staff = await staff_of(request)
    body = await read_body(request, BranchBody)
    staff.require_admin()
    branch_id = await node_of(request).directory.create_branch(staff.tenant_id, body.name)
    return json_response({"id": branch_id, "name": body.name}, 201)


@handles_errors
async def create_user(request: Request) -> Response:
    staff = await staff_of(request)
    body = await read_body(request, UserBody)
    staff.require_admin()
    user_id = await node_of(request).directory.create_user(staff.tenant_id, body.branch_id, body.name, body.role)
    return json_response({"id": user_id, "name": body.name, "role": body.role, "branch_id": body.branch_id}, 201)


def _token_owner(staff: Staff, request: Request) -> str:
    """Admins manage any office user's tokens; others only their own."""
    user_id: str = request.path_params["user_id"]
    if user_id != staff.user_id:
        staff.require_admin()
    return user_id


def _token_view(info: TokenInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "name": info.name,
        "created_at": to_datetime(info.created_at_ms),
        "expires_at": None if info.expires_at_ms is None else to_datetime(info.expires_at_ms),
        "last_used_at": None if info.last_used_at_ms is None else to_datetime(info.last_used_at_ms),
        "revoked_at": None if info.revoked_at_ms is None else to_datetime(info.revoked_at_ms),
    }


@handles_errors
async def create_staff_token(request: Request) -> Response:
    """A named API token (``name``, optional ``ttl_s``; absent: no expiry). Shown once.

    Only an admin issues tokens (a stolen password must not mint a lasting credential);
    users list and revoke their own."""
    staff = await staff_of(request)
    staff.require_admin()
    user_id: str = request.path_params["user_id"]
    body = await read_body(request, TokenBody) if await request.body() else TokenBody()
    issued = await node_of(request).staff_auth.tokens.issue(staff.tenant_id, user_id, body.name, body.ttl_s)
    expires = None if issued.expires_at_ms is None else to_datetime(issued.expires_at_ms)
    return json_response(
        {"id": issued.id, "token": issued.token, "name": body.name.strip(), "expires_at": expires}, 201
    )


@handles_errors
async def list_staff_tokens(request: Request) -> Response:
    """The user's usable tokens (``?all=true``: revoked and expired ones too), never their values."""
    staff = await staff_of(request)
    user_id = _token_owner(staff, request)
    everything = request.query_params.get("all") == "true"
    found = await node_of(request).staff_auth.tokens.list(staff.tenant_id, user_id, include_inactive=everything)
    return json_response({"tokens": [_token_view(t) for t in found]})


@handles_errors
async def revoke_staff_token(request: Request) -> Response:
    """Revoke one token; console sockets signed in with it close (4106)."""
    staff = await staff_of(request)
    user_id = _token_owner(staff, request)
    info = await node_of(request).staff_auth.tokens.revoke(staff.tenant_id, user_id, request.path_params["token_id"])
    return json_response(_token_view(info))


@handles_errors
async def create_client(request: Request) -> Response:
    staff = await staff_of(request)
    body = await read_body(request, ClientBody)
    staff.require_branch(body.branch_id)
    directory = node_of(request).directory
    client_id = await directory.create_client(staff.tenant_id, body.branch_id, body.name, body.address)
    return json_response({"id": client_id, "name": body.name, "branch_id": body.branch_id}, 201)


@handles_errors
async def get_preferences(request: Request) -> Response:
    staff = await staff_of(request)
    async with node_of(request).db.read() as conn:
        return json_response(await load_all_preferences(conn, staff.tenant_id))


@handles_errors
async def change_tenant_preferences(request: Request) -> Response:
    """Change tenant preferences; devices receive a ``preferences`` frame at once."""
    staff = await staff_of(request)
    body = await read_body(request, PreferenceChange)
    staff.require_admin()
    node = node_of(request)
    changed = await change_preferences(node.db, node.bus, staff.tenant_id, body)
    node.preferences.forget(staff.tenant_id)
    return json_response(changed)


routes = [
    Route("/api/v1/branches", create_branch, methods=["POST"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    Route("/api/v1/users/{user_id}/tokens", create_staff_token, methods=["POST"]),
    Route("/api/v1/users/{user_id}/tokens", list_staff_tokens, methods=["GET"]),
    Route("/api/v1/users/{user_id}/tokens/{token_id}", revoke_staff_token, methods=["DELETE"]),
    Route("/api/v1/clients", create_client, methods=["POST"]),
    Route("/api/v1/tenant/preferences", get_preferences, methods=["GET"]),
    Route("/api/v1/tenant/preferences", change_tenant_preferences, methods=["PATCH"]),
]
