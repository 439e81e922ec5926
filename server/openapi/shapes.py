"""Typed shapes of the REST answers that handlers build as plain mappings.

Request bodies and most answers are described by the very types the handlers decode and
encode (``server.api.*`` bodies, ``protocol`` frames and views, the report's rows); these
few cover the small acknowledgements handlers write inline. The schemathesis run in the
test suite checks every answer against them, so a handler that drifts fails a test.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct

from protocol.console import AlertView
from protocol.frames import VisitView
from server.services.device_report import ReportRow
from server.services.visit_verification.export import ExportHeader
from server.services.visit_verification.rows import VerificationRow


class ErrorDetail(Struct):
    code: str
    message: str


class ErrorBody(Struct):
    """Every error, on every status: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class SignedInUser(Struct):
    id: str
    name: str
    role: str
    branch_id: str | None


class SignedIn(Struct):
    token: str
    expires_at: datetime
    user: SignedInUser


class SignedOut(Struct):
    signed_out: bool


class PasswordSet(Struct):
    id: str
    login: str


class AlertList(Struct):
    alerts: list[AlertView]


class Enrolled(Struct):
    device_id: str
    token: str


class DeviceCreated(Struct):
    id: str
    token: str | None


class DeviceRenamed(Struct):
    id: str
    name: str


class DeviceAssigned(Struct):
    id: str
    carer_ids: list[str]


class DeviceDeactivated(Struct):
    id: str
    active: bool


class DeviceDeleted(Struct):
    id: str
    deleted: bool


class DeviceRevoked(Struct):
    id: str
    revoked: bool


class DeviceToken(Struct):
    id: str
    token: str


class EnrolmentCode(Struct):
    code: str
    expires_at: datetime


class ResyncRequested(Struct):
    id: str
    resync_requested: bool


class FeedReset(Struct):
    carer_id: str
    epoch: int
    """The feed's new epoch."""
    head: int
    """Its head: one change per visit currently assigned to the carer."""


class BranchCreated(Struct):
    id: str
    name: str


class UserCreated(Struct):
    id: str
    name: str
    role: str
    branch_id: str | None


class ClientCreated(Struct):
    id: str
    name: str
    branch_id: str


class StaffTokenIssued(Struct):
    id: str
    token: str
    name: str
    expires_at: datetime | None


class StaffTokenView(Struct):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class StaffTokenList(Struct):
    tokens: list[StaffTokenView]


class VisitPage(Struct):
    visits: list[VisitView]
    page: int
    page_size: int
    next_page: int | None


class DeviceReportPage(Struct):
    devices: list[ReportRow]
    total: int
    page: int
    page_size: int | None
    timezone: str


class VisitVerificationExport(ExportHeader, kw_only=True):
    """The visit verification export as JSON (docs/visit-verification.md): what it covers,
    then one row per visit and carer, in scheduled order."""

    visits: list[VerificationRow]
