"""Admin endpoints for branches, users and clients."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, read_body, staff_of
from server.services.preferences import PreferenceChange, change_preferences
from server.services.tenant_prefs import load_preferences


class BranchBody(msgspec.Struct):
    name: str


class UserBody(msgspec.Struct):
    name: str
    role: str
    branch_id: str | None = None


class ClientBody(msgspec.Struct):
    name: str
    branch_id: str
    address: str = ""


@handles_errors
async def create_branch(request: Request) -> Response:
    body = await read_body(request, BranchBody)
    staff = await staff_of(request)
    staff.require_admin()
    branch_id = await node_of(request).directory.create_branch(staff.tenant_id, body.name)
    return json_response({"id": branch_id, "name": body.name}, 201)


@handles_errors
async def create_user(request: Request) -> Response:
    body = await read_body(request, UserBody)
    staff = await staff_of(request)
    staff.require_admin()
    user_id = await node_of(request).directory.create_user(staff.tenant_id, body.branch_id, body.name, body.role)
    return json_response({"id": user_id, "name": body.name, "role": body.role, "branch_id": body.branch_id}, 201)


@handles_errors
async def create_staff_token(request: Request) -> Response:
    staff = await staff_of(request)
    staff.require_admin()
    token = await node_of(request).directory.issue_staff_token(staff.tenant_id, request.path_params["user_id"])
    return json_response({"token": token}, 201)


@handles_errors
async def create_client(request: Request) -> Response:
    body = await read_body(request, ClientBody)
    staff = await staff_of(request)
    staff.require_branch(body.branch_id)
    directory = node_of(request).directory
    client_id = await directory.create_client(staff.tenant_id, body.branch_id, body.name, body.address)
    return json_response({"id": client_id, "name": body.name, "branch_id": body.branch_id}, 201)


@handles_errors
async def get_preferences(request: Request) -> Response:
    staff = await staff_of(request)
    async with node_of(request).db.read() as conn:
        return json_response(await load_preferences(conn, staff.tenant_id))


@handles_errors
async def change_tenant_preferences(request: Request) -> Response:
    """Change tenant preferences; devices receive a ``preferences`` frame at once."""
    body = await read_body(request, PreferenceChange)
    staff = await staff_of(request)
    staff.require_admin()
    node = node_of(request)
    changed = await change_preferences(node.db, node.bus, staff.tenant_id, body)
    node.preferences.forget(staff.tenant_id)
    return json_response(changed)


routes = [
    Route("/api/v1/branches", create_branch, methods=["POST"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    Route("/api/v1/users/{user_id}/tokens", create_staff_token, methods=["POST"]),
    Route("/api/v1/clients", create_client, methods=["POST"]),
    Route("/api/v1/tenant/preferences", get_preferences, methods=["GET"]),
    Route("/api/v1/tenant/preferences", change_tenant_preferences, methods=["PATCH"]),
]
