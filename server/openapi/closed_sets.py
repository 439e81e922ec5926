"""The fixed sets of values that fields typed ``str`` hold, for the document's ``enum``s.

Each set is read from where the server defines it, so a value added there reaches the
document; a test checks every error class and code of the code base is in
:data:`ERROR_CODES`.
"""

from __future__ import annotations

from typing import get_args

from protocol.errors import ConflictReason, ErrorCode, RejectReason
from protocol.frames import VisitStatus
from server.services.directory import ROLES
from server.services.errors import Conflict, Expired, Forbidden, Gone, InvalidInput, NotFound, Revoked, ServiceError
from server.services.staff_auth import OFFICE_ROLES
from server.services.throttle import TooManyAttempts

DEVICE_STATES = ("active", "awaiting enrolment", "revoked", "deactivated")
"""A device report row's ``state`` (``server/services/device_report.py``)."""

HTTP_ONLY_CODES = ("method_not_allowed", "unavailable")
"""Codes only the HTTP layer answers: a method a path does not take, a store outage (503)."""

_SERVICE_ERRORS = (ServiceError, InvalidInput, NotFound, Forbidden, Revoked, Expired, Gone, Conflict, TooManyAttempts)
ERROR_CODES: tuple[str, ...] = tuple(
    sorted(
        {code.value for code in ErrorCode}
        | {kind.code for kind in _SERVICE_ERRORS}
        | {"unauthorized", *HTTP_ONLY_CODES}
    )
)
"""Every ``code`` an error body can carry, on any status."""

CLOSED_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ErrorDetail", "code"): ERROR_CODES,
    ("UserBody", "role"): ROLES,
    ("UserCreated", "role"): ROLES,
    ("SignedInUser", "role"): OFFICE_ROLES,
    ("AlertVisit", "status"): get_args(VisitStatus),
    ("ReportRow", "state"): DEVICE_STATES,
    ("MutationResult", "reason"): tuple(r.value for r in RejectReason) + tuple(r.value for r in ConflictReason),
}
"""(component, property) to the values it holds."""
