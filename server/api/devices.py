"""Admin endpoints for devices, and the device's HTTP fallback for standard sync."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.errors import ProtocolError
from protocol.frames import SyncRequest
from server.api.http import device_of, handles_errors, json_response, node_of, read_body, staff_of


class DeviceBody(msgspec.Struct):
    uuid: str
    name: str
    carer_ids: list[str]
    branch_id: str | None = None


@handles_errors
async def create_device(request: Request) -> Response:
    """Register a device; the plaintext token is returned once and never stored."""
    body = await read_body(request, DeviceBody)
    staff = await staff_of(request)
    staff.require_admin()
    created = await node_of(request).devices.create_device(
        staff.tenant_id,
        uuid=body.uuid,
        name=body.name,
        carer_ids=body.carer_ids,
        branch_id=body.branch_id,
    )
    return json_response({"id": created.device_id, "token": created.token}, 201)


@handles_errors
async def revoke_device(request: Request) -> Response:
    """Revoke the device's tokens and close its socket on whichever node holds it."""
    staff = await staff_of(request)
    staff.require_admin()
    node = node_of(request)
    device_id = request.path_params["device_id"]
    await node.devices.revoke(staff.tenant_id, device_id)
    await node.hub.disconnect_device(device_id)
    return json_response({"id": device_id, "revoked": True})


@handles_errors
async def device_sync(request: Request) -> Response:
    """``POST /api/v1/device/sync``: a ``sync_request`` body, a ``sync_response`` answer."""
    device = await device_of(request)
    try:
        body = await read_body(request, SyncRequest)
    except ProtocolError as exc:
        node_of(request).activity.record_call(device.device_id, ok=False, error_code=exc.code)
        raise
    return json_response(await node_of(request).sync.standard_sync(device, body))


routes = [
    Route("/api/v1/devices", create_device, methods=["POST"]),
    Route("/api/v1/devices/{device_id}/revoke", revoke_device, methods=["POST"]),
    Route("/api/v1/device/sync", device_sync, methods=["POST"]),
]
