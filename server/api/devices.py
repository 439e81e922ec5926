"""Admin endpoints for the device registry: create, rename, reassign, deactivate,
delete, rotate tokens, revoke, and issue enrolment codes."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, read_body, staff_of
from server.clock import to_datetime
from server.node import Node
from server.services.errors import InvalidInput
from server.services.identity import Staff


class DeviceBody(msgspec.Struct):
    name: str
    carer_ids: list[str]
    uuid: str | None = None
    branch_id: str | None = None
    platform: str = ""
    model: str = ""


class RenameBody(msgspec.Struct):
    name: str


class AssignBody(msgspec.Struct):
    carer_ids: list[str]
    branch_id: str | None = None


class CodeBody(msgspec.Struct):
    ttl_s: int = 15 * 60


async def _admin(request: Request) -> tuple[Node, Staff, str]:
    staff = await staff_of(request)
    staff.require_admin()
    return node_of(request), staff, request.path_params.get("device_id", "")


@handles_errors
async def create_device(request: Request) -> Response:
    """Register a device. With a UUID, its token is returned once (and never stored);
    without one, the app enrols with a code from ``/enrolment-codes``."""
    node, staff, _ = await _admin(request)
    body = await read_body(request, DeviceBody)
    created = await node.devices.create_device(
        staff.tenant_id,
        name=body.name,
        carer_ids=body.carer_ids,
        uuid=body.uuid,
        branch_id=body.branch_id,
        platform=body.platform,
        model=body.model,
        shared=len(body.carer_ids) > 1,
        issue_token=body.uuid is not None,
    )
    return json_response({"id": created.device_id, "token": created.token}, 201)


@handles_errors
async def rename_device(request: Request) -> Response:
    node, staff, device_id = await _admin(request)
    body = await read_body(request, RenameBody)
    await node.devices.rename(staff.tenant_id, device_id, body.name)
    return json_response({"id": device_id, "name": body.name})


@handles_errors
async def assign_device(request: Request) -> Response:
    """Replace the carers (and optionally the branch); the device reconnects to follow them."""
    node, staff, device_id = await _admin(request)
    body = await read_body(request, AssignBody)
    await node.devices.assign(staff.tenant_id, device_id, body.carer_ids, body.branch_id)
    return json_response({"id": device_id, "carer_ids": body.carer_ids})


@handles_errors
async def deactivate_device(request: Request) -> Response:
    node, staff, device_id = await _admin(request)
    await node.devices.deactivate(staff.tenant_id, device_id)
    return json_response({"id": device_id, "active": False})


@handles_errors
async def delete_device(request: Request) -> Response:
    node, staff, device_id = await _admin(request)
    await node.devices.delete(staff.tenant_id, device_id)
    return json_response({"id": device_id, "deleted": True})


@handles_errors
async def revoke_device(request: Request) -> Response:
    """Revoke the device's tokens and close its socket on whichever node holds it."""
    node, staff, device_id = await _admin(request)
    await node.devices.revoke(staff.tenant_id, device_id)
    return json_response({"id": device_id, "revoked": True})


@handles_errors
async def rotate_token(request: Request) -> Response:
    node, staff, device_id = await _admin(request)
    token = await node.devices.rotate_token(staff.tenant_id, device_id)
    return json_response({"id": device_id, "token": token}, 201)


@handles_errors
async def enrolment_code(request: Request) -> Response:
    node, staff, device_id = await _admin(request)
    body = await read_body(request, CodeBody) if await request.body() else CodeBody()
    if not 60 <= body.ttl_s <= 24 * 3600:
        raise InvalidInput("ttl_s must be 60 to 86400 seconds")
    issued = await node.devices.issue_enrolment_code(staff.tenant_id, device_id, body.ttl_s)
    return json_response({"code": issued.code, "expires_at": to_datetime(issued.expires_at_ms)}, 201)


@handles_errors
async def demand_resync(request: Request) -> Response:
    """Ask the device for a clean sync: now if connected, else at its next connection."""
    node, staff, device_id = await _admin(request)
    await node.devices.demand_resync(staff.tenant_id, device_id)
    return json_response({"id": device_id, "resync_requested": True})


routes = [
    Route("/api/v1/devices", create_device, methods=["POST"]),
    Route("/api/v1/devices/{device_id}", rename_device, methods=["PATCH"]),
    Route("/api/v1/devices/{device_id}", delete_device, methods=["DELETE"]),
    Route("/api/v1/devices/{device_id}/users", assign_device, methods=["PUT"]),
    Route("/api/v1/devices/{device_id}/deactivate", deactivate_device, methods=["POST"]),
    Route("/api/v1/devices/{device_id}/revoke", revoke_device, methods=["POST"]),
    Route("/api/v1/devices/{device_id}/tokens", rotate_token, methods=["POST"]),
    Route("/api/v1/devices/{device_id}/enrolment-codes", enrolment_code, methods=["POST"]),
    Route("/api/v1/devices/{device_id}/resync", demand_resync, methods=["POST"]),
]
