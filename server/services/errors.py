"""Errors raised by services, each with a stable code and an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    status = 422
    code = "invalid_input"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Revoked(Unauthorized):
    code = "revoked"


class Expired(Unauthorized):
    code = "expired"


class Gone(ServiceError):
    status = 410
    code = "gone"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
