"""Every REST operation with the types it reads and answers, and the OpenAPI document built
from them with ``msgspec.json.schema_components``.

Bodies are the structs the handlers decode (``read_body(request, CreateVisitBody)`` here is
``body=visits.CreateVisitBody``); answers are the frames, views and rows they encode, or a
shape from :mod:`server.openapi.shapes`. A test checks that every ``/api/v1`` route of the
app is described here and that nothing here is missing from the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import msgspec

from protocol.console import AlertView
from protocol.frames import (
    Ack,
    CleanSyncRequest,
    CleanSyncResponse,
    Seen,
    SyncRequest,
    SyncResponse,
    TenantPreferences,
    VisitView,
)
from server.api import alerts, device_calls, devices, directory, visits
from server.openapi import shapes
from server.openapi.examples import example_of
from server.openapi.precision import sharpen
from server.services.preferences import PreferenceChange
from server.services.seen_history import SeenHistory

Auth = Literal["staff", "device", "none"]


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    kind: Literal["string", "integer", "boolean"] = "string"
    choices: tuple[str, ...] = ()
    format: str | None = None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    """camelCase, unique and stable: what generated clients name the call."""
    method: str
    path: str
    summary: str
    answer: Any
    """The answer's type; None for a call answered without a body (204)."""
    auth: Auth = "staff"
    body: Any = None
    status: int = 200
    query: tuple[Query, ...] = ()
    body_optional: bool = False
    tag: str = "office"
    csv: bool = False
    """Also answers ``text/csv`` (with ``format=csv``)."""


_WINDOW = (
    Query("from", "start of the window (RFC 3339 with an offset; default: today)", format="date-time"),
    Query("to", "end of the window (default: from + 15 days; at most 62 days after from)", format="date-time"),
    Query("page", "page number, from 1", "integer"),
    Query("page_size", "visits per page, 1 to 500 (default 200)", "integer"),
)
_ALERT_FILTERS = (
    Query("status", "which alerts", choices=("open", "recent", "all")),
    Query("branch_id", "only this branch"),
    Query("severity", "only this severity", choices=("high", "normal")),
    Query("carer_id", "only this carer"),
    Query("limit", "at most this many, 1 to 500", "integer"),
)
_REPORT_QUERY = (
    Query("format", "json (default) or csv", choices=("json", "csv")),
    Query("branch_id", "only this branch"),
    Query("user_id", "only devices of this carer"),
    Query("stale", "only stale (true) or fresh (false) devices", choices=("true", "false")),
    Query("sort", "column to sort on"),
    Query("order", "sort order", choices=("asc", "desc")),
    Query("page", "page number, from 1", "integer"),
    Query("page_size", "rows per page, 1 to 500", "integer"),
)
_VERIFICATION_QUERY = (
    Query("from", "first date, in the tenant's time zone (YYYY-MM-DD; required)", format="date"),
    Query("to", "last date, included (YYYY-MM-DD; required; at most 92 days from from, both included)", format="date"),
    Query("branch_id", "the branch (default: a coordinator's own; every branch for an admin)"),
    Query("format", "json (default) or csv", choices=("json", "csv")),
)

OPERATIONS: tuple[Operation, ...] = (
    # --- rota
    Operation(
        "createVisit", "POST", "/api/v1/visits", "Create a visit", VisitView, body=visits.CreateVisitBody, status=201
    ),
    Operation("getVisit", "GET", "/api/v1/visits/{visit_id}", "One visit", VisitView),
    Operation(
        "changeVisitNotes",
        "PATCH",
        "/api/v1/visits/{visit_id}",
        "Change a visit's notes (optionally marked as needing the carers' acknowledgement)",
        VisitView,
        body=visits.NotesBody,
    ),
    Operation(
        "rescheduleVisit",
        "POST",
        "/api/v1/visits/{visit_id}/reschedule",
        "Move a visit",
        VisitView,
        body=visits.RescheduleBody,
    ),
    Operation(
        "reassignVisit",
        "POST",
        "/api/v1/visits/{visit_id}/reassign",
        "Replace a visit's carers",
        VisitView,
        body=visits.ReassignBody,
    ),
    Operation("cancelVisit", "POST", "/api/v1/visits/{visit_id}/cancel", "Cancel a visit", VisitView),
    Operation(
        "visitSeenHistory",
        "GET",
        "/api/v1/visits/{visit_id}/seen",
        "The visit's changes: needed acknowledgement, delivered, seen by the carer (when, on which phone)",
        SeenHistory,
    ),
    Operation(
        "addVisitTask",
        "POST",
        "/api/v1/visits/{visit_id}/tasks",
        "Add a task",
        VisitView,
        body=visits.TaskBody,
        status=201,
    ),
    Operation(
        "changeVisitTask",
        "PATCH",
        "/api/v1/visits/{visit_id}/tasks/{task_id}",
        "Rename or remove a task",
        VisitView,
        body=visits.ChangeTaskBody,
    ),
    Operation(
        "listBranchVisits",
        "GET",
        "/api/v1/branches/{branch_id}/visits",
        "A branch's visits",
        shapes.VisitPage,
        query=_WINDOW,
    ),
    Operation(
        "listCarerVisits",
        "GET",
        "/api/v1/carers/{carer_id}/visits",
        "A carer's visits",
        shapes.VisitPage,
        query=_WINDOW,
    ),
    Operation(
        "resetCarerFeed",
        "POST",
        "/api/v1/carers/{carer_id}/feed/reset",
        "Start a carer's feed over in a new epoch replaying their current visits (their phones replay it)",
        shapes.FeedReset,
    ),
    # --- directory and tenant
    Operation(
        "createBranch",
        "POST",
        "/api/v1/branches",
        "Create a branch",
        shapes.BranchCreated,
        body=directory.BranchBody,
        status=201,
    ),
    Operation(
        "createUser", "POST", "/api/v1/users", "Create a user", shapes.UserCreated, body=directory.UserBody, status=201
    ),
    Operation(
        "createStaffToken",
        "POST",
        "/api/v1/users/{user_id}/tokens",
        "Issue a named API token for an office user",
        shapes.StaffTokenIssued,
        body=directory.TokenBody,
        status=201,
        body_optional=True,
    ),
    Operation(
        "listStaffTokens",
        "GET",
        "/api/v1/users/{user_id}/tokens",
        "An office user's API tokens (never their values)",
        shapes.StaffTokenList,
        query=(Query("all", "include revoked and expired tokens", choices=("true", "false")),),
    ),
    Operation(
        "revokeStaffToken",
        "DELETE",
        "/api/v1/users/{user_id}/tokens/{token_id}",
        "Revoke an API token",
        shapes.StaffTokenView,
    ),
    Operation(
        "setUserPassword",
        "PUT",
        "/api/v1/users/{user_id}/password",
        "Set an office user's login and password",
        shapes.PasswordSet,
        body=alerts.PasswordBody,
    ),
    Operation(
        "createClient",
        "POST",
        "/api/v1/clients",
        "Create a client",
        shapes.ClientCreated,
        body=directory.ClientBody,
        status=201,
    ),
    Operation(
        "getTenantPreferences", "GET", "/api/v1/tenant/preferences", "The tenant's preferences", TenantPreferences
    ),
    Operation(
        "changeTenantPreferences",
        "PATCH",
        "/api/v1/tenant/preferences",
        "Change the tenant's preferences (pushed to devices)",
        TenantPreferences,
        body=PreferenceChange,
    ),
    # --- staff sign-in and alerts
    Operation(
        "signIn",
        "POST",
        "/api/v1/auth/sign-in",
        "Exchange a login and password for a staff token",
        shapes.SignedIn,
        auth="none",
        body=alerts.SignInBody,
        tag="sign-in",
    ),
    Operation("signOut", "POST", "/api/v1/auth/sign-out", "Revoke the calling token", shapes.SignedOut, tag="sign-in"),
    Operation(
        "listAlerts", "GET", "/api/v1/alerts", "Alerts, most urgent first", shapes.AlertList, query=_ALERT_FILTERS
    ),
    Operation("getAlert", "GET", "/api/v1/alerts/{alert_id}", "One alert", AlertView),
    Operation("dismissAlert", "POST", "/api/v1/alerts/{alert_id}/dismiss", "Close an alert (the X)", AlertView),
    # --- devices
    Operation(
        "createDevice",
        "POST",
        "/api/v1/devices",
        "Register a device",
        shapes.DeviceCreated,
        body=devices.DeviceBody,
        status=201,
    ),
    Operation(
        "renameDevice",
        "PATCH",
        "/api/v1/devices/{device_id}",
        "Rename a device",
        shapes.DeviceRenamed,
        body=devices.RenameBody,
    ),
    Operation(
        "deleteDevice", "DELETE", "/api/v1/devices/{device_id}", "Delete a device (history kept)", shapes.DeviceDeleted
    ),
    Operation(
        "assignDeviceCarers",
        "PUT",
        "/api/v1/devices/{device_id}/users",
        "Replace a device's carers",
        shapes.DeviceAssigned,
        body=devices.AssignBody,
    ),
    Operation(
        "deactivateDevice",
        "POST",
        "/api/v1/devices/{device_id}/deactivate",
        "Cut a device off",
        shapes.DeviceDeactivated,
    ),
    Operation(
        "revokeDeviceTokens",
        "POST",
        "/api/v1/devices/{device_id}/revoke",
        "Revoke a device's tokens",
        shapes.DeviceRevoked,
    ),
    Operation(
        "rotateDeviceToken",
        "POST",
        "/api/v1/devices/{device_id}/tokens",
        "Rotate a device's token",
        shapes.DeviceToken,
        status=201,
    ),
    Operation(
        "createEnrolmentCode",
        "POST",
        "/api/v1/devices/{device_id}/enrolment-codes",
        "A one-time enrolment code",
        shapes.EnrolmentCode,
        body=devices.CodeBody,
        status=201,
        body_optional=True,
    ),
    Operation(
        "requestDeviceResync",
        "POST",
        "/api/v1/devices/{device_id}/resync",
        "Make a device clean-sync",
        shapes.ResyncRequested,
    ),
    Operation(
        "getDeviceReport",
        "GET",
        "/api/v1/reports/devices",
        "The User Device Relationship report (JSON, or CSV with format=csv)",
        shapes.DeviceReportPage,
        query=_REPORT_QUERY,
        csv=True,
    ),
    Operation(
        "exportVisitVerification",
        "GET",
        "/api/v1/reports/visit-verification",
        "Visit verification: per visit and carer the six elements and the exceptions, for a date range and "
        "branch (JSON, or CSV with format=csv; streamed)",
        shapes.VisitVerificationExport,
        query=_VERIFICATION_QUERY,
        csv=True,
    ),
    # --- the device's own calls
    Operation(
        "enrolDevice",
        "POST",
        "/api/v1/device/enrol",
        "Exchange an enrolment code for a device token",
        shapes.Enrolled,
        auth="none",
        body=device_calls.EnrolBody,
        status=201,
        tag="device",
    ),
    Operation(
        "syncDevice",
        "POST",
        "/api/v1/device/sync",
        "Standard sync over HTTP (the socket's sync_request)",
        SyncResponse,
        auth="device",
        body=SyncRequest,
        tag="device",
    ),
    Operation(
        "acknowledgeChanges",
        "POST",
        "/api/v1/device/ack",
        "Acknowledge what a sync answer brought (the socket's ack; 204, no body)",
        None,
        auth="device",
        body=Ack,
        status=204,
        tag="device",
    ),
    Operation(
        "acknowledgeSeen",
        "POST",
        "/api/v1/device/seen",
        "The carer saw these changes (the socket's seen; recorded once; 204, no body)",
        None,
        auth="device",
        body=Seen,
        status=204,
        tag="device",
    ),
    Operation(
        "cleanSyncPage",
        "POST",
        "/api/v1/device/clean-sync",
        "One clean-sync page over HTTP (the socket's clean_sync_request)",
        CleanSyncResponse,
        auth="device",
        body=CleanSyncRequest,
        tag="device",
    ),
)

_REF = "#/components/schemas/{name}"


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for segment in operation.path.split("/"):
        if segment.startswith("{"):
            name = segment.strip("{}")
            found.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    for query in operation.query:
        schema: dict[str, Any] = {"type": query.kind}
        if query.choices:
            schema["enum"] = list(query.choices)
        if query.format:
            schema["format"] = query.format
        found.append({"name": query.name, "in": "query", "required": False, "description": query.description,
                      "schema": schema})  # fmt: skip
    return found


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _success(operation: Operation, schema_of: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """The success response: its body's schema, or none for an answer without a body (204)."""
    if operation.answer is None:
        return {"description": "success, no body"}
    return {"description": "success", "content": _json(schema_of[operation.answer], example_of(operation.answer))}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST API (built once)."""
    types: list[Any] = [shapes.ErrorBody]
    for operation in OPERATIONS:
        types += [t for t in (operation.answer, operation.body) if t is not None]
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=_REF)
    sharpen(components, unique)
    schema_of = dict(zip(unique, refs, strict=True))
    error = {
        "description": "an error (every status uses this body)",
        "content": _json(schema_of[shapes.ErrorBody], example_of(shapes.ErrorBody)),
    }
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [operation.tag],
            "parameters": _parameters(operation),
            "responses": {str(operation.status): _success(operation, schema_of), "default": error},
        }
        if operation.csv:
            entry["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
        if operation.body is not None:
            content = _json(schema_of[operation.body], example_of(operation.body))
            body = {"required": not operation.body_optional, "content": content}
            entry["requestBody"] = body
        entry["security"] = [] if operation.auth == "none" else [{operation.auth: []}]
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "caresync REST API",
            "version": "1",
            "description": "Office, device HTTP fallback and enrolment calls. Errors on every status are "
            '`{"error": {"code", "message"}}`. Devices normally use the WebSocket protocol '
            "(docs/protocol.md); these calls share its frames.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "staff": {"type": "http", "scheme": "bearer", "description": "a staff token (sign-in or API token)"},
                "device": {"type": "http", "scheme": "bearer", "description": "a device token"},
            },
        },
    }


def document_json() -> bytes:
    return _encoded()


@cache
def _encoded() -> bytes:
    return msgspec.json.encode(document())
