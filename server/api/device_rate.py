"""What one device may cost the node over HTTP (docs/security.md, "What one device can
cost"): a token bucket of calls per device on each node, a call beyond it answered 429
``rate_limited`` with ``Retry-After`` before its body is read; and an upload past the
device's daily quota answered 429 ``upload_quota_exceeded`` with ``Retry-After``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request

from protocol import MAX_FRAME_BYTES
from protocol.errors import ErrorCode
from server.api.http import node_of
from server.services.identity import DeviceIdentity
from server.services.throttle import TooManyAttempts
from server.services.token_bucket import cost_of
from server.services.upload_quota import UploadQuotaExceeded


class DeviceCallsExceeded(TooManyAttempts):
    code = ErrorCode.RATE_LIMITED


class UploadQuotaSpent(TooManyAttempts):
    code = ErrorCode.UPLOAD_QUOTA_EXCEEDED


def admit_device_call(request: Request, device: DeviceIdentity) -> None:
    """Charge the call to the device's bucket (one token per started 4 KiB of the body it
    declares; a body of unknown length counts as a whole frame), or refuse it."""
    node = node_of(request)
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else MAX_FRAME_BYTES
    wait_s = node.device_calls.take(device.device_id, cost_of(size), node.clock.now_ms())
    if wait_s:
        node.activity.record_call(device.device_id, ok=False, error_code=ErrorCode.RATE_LIMITED)
        retry_after_s = max(1, math.ceil(wait_s))
        raise DeviceCallsExceeded(
            f"too many calls from this device (over {node.settings.device_requests_per_s:g} a second); "
            f"retry in {retry_after_s} s",
            retry_after_s,
        )


@contextmanager
def quota_refusal_answered_429() -> Iterator[None]:
    """An upload past the quota (an ``error`` frame on the socket) as a 429 with
    ``Retry-After`` until the next UTC day."""
    try:
        yield
    except UploadQuotaExceeded as exc:
        raise UploadQuotaSpent(exc.message, exc.retry_after_s) from None
