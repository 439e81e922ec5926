"""Stable error codes, WebSocket close codes and the protocol exception tree.

Close codes are split in two ranges (docs/protocol.md, "Close codes"):

* 4000-4099 **reconnect**: the device should reconnect with backoff and resume.
* 4100-4199 **terminal**: reconnecting cannot help until something changes (a new token,
  an app update); the device must stop and surface the reason.
"""

from __future__ import annotations

import enum
import re


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``error`` frame or a rejected request. Values never change."""

    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_FRAME_TYPE = "unknown_frame_type"
    INVALID_FRAME = "invalid_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    UNEXPECTED_FRAME = "unexpected_frame"
    AUTH_FAILED = "auth_failed"
    DEVICE_REVOKED = "device_revoked"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_FEED = "unknown_feed"
    POSITION_AHEAD = "position_ahead"
    STALE_EPOCH = "stale_epoch"
    TOO_MANY_MUTATIONS = "too_many_mutations"
    INVALID_CURSOR = "invalid_cursor"
    SNAPSHOT_EXPIRED = "snapshot_expired"
    CURSOR_OUT_OF_ORDER = "cursor_out_of_order"
    INTERNAL_ERROR = "internal_error"
    RATE_LIMITED = "rate_limited"
    """A frame (or HTTP call) beyond the device's rate: not handled; send it again later."""
    UPLOAD_QUOTA_EXCEEDED = "upload_quota_exceeded"
    """The device's uploads reached the day's quota: keep the mutations, retry after the
    ``retry in N s`` of the message (the next UTC day)."""
    TOO_MANY_SOCKETS = "too_many_sockets"
    """Console only: the staff user already holds the most console sockets a node allows."""


class RejectReason(enum.StrEnum):
    """Why a single uploaded mutation was rejected (its result, not an error frame)."""

    VISIT_NOT_FOUND = "visit_not_found"
    VISIT_NOT_ASSIGNED = "visit_not_assigned"
    CARER_NOT_ON_DEVICE = "carer_not_on_device"
    TASK_NOT_FOUND = "task_not_found"
    INVALID_MUTATION = "invalid_mutation"


class ConflictReason(enum.StrEnum):
    """Why an applied mutation was flagged for the office (stored, never dropped)."""

    VISIT_CANCELLED = "visit_cancelled"
    VISIT_REASSIGNED = "visit_reassigned"
    TASK_REMOVED = "task_removed"


class CloseCode(enum.IntEnum):
    """WebSocket close codes sent by the server."""

    # Reconnect range: back off, reconnect, resume from stored positions.
    SERVER_SHUTDOWN = 4000
    SLOW_CONSUMER = 4001
    HELLO_TIMEOUT = 4002
    TRY_AGAIN_LATER = 4003
    """The server cannot serve the device now (its database is unavailable); the close
    reason says how long to wait (``retry in N s``) before reconnecting."""
    FEEDS_CHANGED = 4004
    """The device's carers changed: reconnect to follow the new set of feeds."""
    TOO_MANY_FRAMES = 4005
    """The device kept sending frames beyond its rate after being told (``rate_limited``);
    reconnect after the ``retry in N s`` of the close reason."""
    TOO_MANY_SOCKETS = 4006
    """Console only: the staff user holds the most console sockets a node allows (other
    windows); reconnect with backoff, which succeeds once one of them closes."""
    # Terminal range: do not reconnect automatically.
    AUTH_FAILED = 4100
    DEVICE_REVOKED = 4101
    PROTOCOL_VIOLATION = 4102
    FRAME_TOO_LARGE = 4103
    UNSUPPORTED_VERSION = 4104
    REPLACED = 4105
    """A newer connection of the same device took over; reconnecting would fight it."""
    SESSION_ENDED = 4106
    """Console only: the staff token was signed out, revoked (password change, token
    revocation) or expired; sign in again."""


RECONNECT_RANGE = range(4000, 4100)
TERMINAL_RANGE = range(4100, 4200)


def should_reconnect(code: int) -> bool:
    """Whether a device receiving close ``code`` should reconnect.

    Standard codes other than policy/size/protocol faults (1002, 1003, 1007, 1008, 1009)
    are treated as transient, as are the 4000-4099 range and any unknown code below 4100.
    """
    if code in TERMINAL_RANGE:
        return False
    return code not in (1002, 1003, 1007, 1008, 1009)


_RETRY_HINT = re.compile(r"retry in (\d+(?:\.\d+)?) s")


def retry_hint_s(reason: str) -> float | None:
    """The wait a 4003 close reason asks for (``retry in N s``), if it names one."""
    found = _RETRY_HINT.search(reason)
    return float(found.group(1)) if found else None


_RECONNECT_AFTER = re.compile(r"reconnect_after_ms=(\d+)")


def reconnect_after_s(reason: str) -> float | None:
    """The wait a draining node's 4000 close reason names (``reconnect_after_ms=N``), if any."""
    found = _RECONNECT_AFTER.search(reason)
    return int(found.group(1)) / 1000 if found else None


class ProtocolError(Exception):
    """A frame broke the protocol. Carries the stable code and the request id, if any."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        message = message.replace("\x00", "\\u0000")  # quoted input never puts U+0000 on the wire
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id if request_id is None or "\x00" not in request_id else None
