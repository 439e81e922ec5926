"""Errors raised by services, each with a stable code and an HTTP status."""

from __future__ import annotations

from typing import Self


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        """The REST input field the error is about; ``message`` then opens with it, so the
        command line can name its flag in its place."""

    @classmethod
    def about(cls, field: str, detail: str) -> Self:
        """An error about one input field: ``"<field> <detail>"``."""
        return cls(f"{field} {detail}", field=field)

    def naming(self, field_name: str) -> str:
        """The message with its field called ``field_name`` (e.g. the flag typed)."""
        if self.field is None:
            return self.message
        return field_name + self.message.removeprefix(self.field)


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
