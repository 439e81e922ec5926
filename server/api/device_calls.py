"""Endpoints the device app itself calls over HTTP: enrolment and the sync fallback
(standard sync, its acknowledgement, clean sync) and the carer's acknowledgement (seen)."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.errors import ProtocolError
from protocol.frames import Ack, CleanSyncRequest, Seen, SyncRequest
from server.api.device_rate import admit_device_call, quota_refusal_answered_429
from server.api.http import client_address, device_of, handles_errors, json_response, node_of, read_body
from server.services.identity import DeviceIdentity

B = TypeVar("B", bound=msgspec.Struct)


async def _device_call(request: Request, body_type: type[B]) -> tuple[DeviceIdentity, B]:
    """The calling device, within its call rate, and its body; an unreadable body is
    recorded as a failed call of that device before it is answered."""
    device = await device_of(request)
    admit_device_call(request, device)
    try:
        return device, await read_body(request, body_type)
    except ProtocolError as exc:
        node_of(request).activity.record_call(device.device_id, ok=False, error_code=exc.code)
        raise


class EnrolBody(msgspec.Struct):
    code: str
    uuid: str
    app_version: str
    platform: str = ""


@handles_errors
async def enrol(request: Request) -> Response:
    """``POST /api/v1/device/enrol``: exchange a one-time code for the device token."""
    node, address = node_of(request), client_address(request)
    await node.enrolment_throttle.admit(address)
    body = await read_body(request, EnrolBody)
    enrolled = await node.devices.enrol(body.code, body.uuid, body.app_version, body.platform)
    await node.enrolment_throttle.succeeded(address)
    return json_response({"device_id": enrolled.device_id, "token": enrolled.token}, 201)


@handles_errors
async def device_sync(request: Request) -> Response:
    """``POST /api/v1/device/sync``: a ``sync_request`` body, a ``sync_response`` answer."""
    device, body = await _device_call(request, SyncRequest)
    with quota_refusal_answered_429():
        return json_response(await node_of(request).sync.standard_sync(device, body))


@handles_errors
async def device_ack(request: Request) -> Response:
    """``POST /api/v1/device/ack``: an ``ack`` body, sent after applying a sync answer; 204."""
    device, body = await _device_call(request, Ack)
    await node_of(request).sync.acknowledge(device, body)
    return Response(status_code=204)


@handles_errors
async def device_seen(request: Request) -> Response:
    """``POST /api/v1/device/seen``: a ``seen`` body, the carer's acknowledgement; 204."""
    device, body = await _device_call(request, Seen)
    await node_of(request).seen.record(device, body)
    return Response(status_code=204)


routes = [
    Route("/api/v1/device/enrol", enrol, methods=["POST"]),
    Route("/api/v1/device/sync", device_sync, methods=["POST"]),
    Route("/api/v1/device/ack", device_ack, methods=["POST"]),
    Route("/api/v1/device/seen", device_seen, methods=["POST"]),
]


@handles_errors
async def device_clean_sync(request: Request) -> Response:
    """``POST /api/v1/device/clean-sync``: a ``clean_sync_request`` body, one page back."""
    device, body = await _device_call(request, CleanSyncRequest)
    return json_response(await node_of(request).clean_sync.serve(device, body))


routes.append(Route("/api/v1/device/clean-sync", device_clean_sync, methods=["POST"]))
