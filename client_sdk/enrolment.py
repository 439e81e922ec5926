"""Enrolment: a phone exchanges the one-time code the office issued for its device token
(docs/protocol.md §8.1). The same call enrols a device again after its token was revoked
or lost; the device keeps its local store (its feeds are its carers', not its token's)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import msgspec

from protocol.frames import Error

ENROL_PATH = "/api/v1/device/enrol"
_error_body = msgspec.json.Decoder(dict[str, Error])


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    token: str
    """Store it durably before using it: enrolling revoked the device's older tokens."""


class EnrolmentRefused(Exception):
    """The node refused the code: ``status`` 401 (unknown), 410 (used or expired: ask the
    office for a new one), 409 (the UUID or the code belongs to another device), 422."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"enrolment refused ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


async def enrol(
    http_url: str,
    code: str,
    device_uuid: str,
    app_version: str = "caresync-python-sdk",
    platform: str = "python",
    timeout: float = 30.0,
) -> Enrolled:
    """``POST /api/v1/device/enrol`` on ``http_url`` (e.g. ``https://sync.example``)."""
    body = {"code": code, "uuid": device_uuid, "app_version": app_version, "platform": platform}
    async with httpx.AsyncClient(base_url=http_url, timeout=timeout) as http:
        try:
            reply = await http.post(ENROL_PATH, json=body)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"enrolment request failed: {exc}") from exc
    if reply.status_code != 201:
        try:
            error = _error_body.decode(reply.content)["error"]
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError):
            error = Error(code="internal_error", message=f"HTTP {reply.status_code}")
        raise EnrolmentRefused(reply.status_code, error.code, error.message)
    answer = reply.json()
    return Enrolled(device_id=str(answer["device_id"]), token=str(answer["token"]))
