"""Shared HTTP plumbing: JSON bodies via msgspec, bearer auth, uniform error bodies.

Every JSON answer is encoded by :func:`protocol.codec.encode`, as frames are, so its
times have the one fixed-width form (docs/protocol.md §1).

Every error is ``{"error": {"code": ..., "message": ...}}`` with a matching status; a
store outage is 503 ``unavailable`` with ``Retry-After``, never a plain-text 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from protocol import MAX_FRAME_BYTES
from protocol.codec import decode_as, encode
from protocol.errors import ErrorCode, ProtocolError
from server.node import Node
from server.observability.logs import bind
from server.services.errors import ServiceError, Unauthorized
from server.services.identity import DeviceIdentity, Staff, authenticate_device, authenticate_staff
from server.services.throttle import TooManyAttempts
from server.store.outage import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


def json_response(content: Any, status: int = 200) -> Response:
    return Response(encode(content), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def read_body(request: Request, kind: type[T]) -> T:
    """The JSON body as ``kind``; any bad body (size, JSON, nesting, fields) is a ProtocolError."""
    raw = await request.body()
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"body over {MAX_FRAME_BYTES} bytes")
    return decode_as(kind, raw)


def client_address(request: Request) -> str:
    """The caller's address (from X-Forwarded-For only behind a trusted proxy, which
    uvicorn's ``forwarded_allow_ips`` decides), for per-address limits."""
    return request.client.host if request.client else "unknown"


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token>")
    return token.strip()


async def staff_of(request: Request) -> Staff:
    node = node_of(request)
    async with node.db.read() as conn:
        staff = await authenticate_staff(conn, bearer(request), node.clock.now_ms())
    bind(tenant=staff.tenant_id)
    if staff.credential_id is not None:
        await node.staff_auth.tokens.note_use(staff.credential_id, staff.last_used_ms)
    return staff


async def device_of(request: Request) -> DeviceIdentity:
    node = node_of(request)
    async with node.db.read() as conn:
        device = await authenticate_device(conn, bearer(request))
    bind(tenant=device.tenant_id, device=device.device_id, carer=",".join(sorted(device.carers)) or None)
    return device


_PROTOCOL_STATUS = {ErrorCode.FRAME_TOO_LARGE: 413}


def handles_errors(endpoint: Endpoint) -> Endpoint:
    """Turn service and protocol errors into the uniform JSON error body."""

    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except TooManyAttempts as exc:
            response = error_response(exc.status, exc.code, exc.message)
            response.headers["retry-after"] = str(exc.retry_after_s)
            return response
        except ServiceError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except ProtocolError as exc:
            return error_response(_PROTOCOL_STATUS.get(exc.code, 422), exc.code, exc.message)
        except StoreUnavailable as exc:  # logged once per outage by the store itself
            response = error_response(503, "unavailable", str(exc))
            response.headers["retry-after"] = str(exc.retry_after_s)
            return response
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, ErrorCode.INTERNAL_ERROR, "the server failed; retry later")

    wrapped.__name__ = endpoint.__name__
    wrapped.__doc__ = endpoint.__doc__
    return wrapped
