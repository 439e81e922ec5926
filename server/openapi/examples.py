"""An example of every request body and answer in the OpenAPI document.

Each example is built as an instance of the very type it illustrates and encoded as the
server encodes answers, so it cannot name a field the type lacks or miss one it needs; a
test also validates each against its schema in the document.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import msgspec

from protocol.codec import encode
from protocol.console import AlertDevice, AlertView, AlertVisit
from protocol.frames import (
    Ack,
    Change,
    CheckIn,
    CleanSyncRequest,
    CleanSyncResponse,
    ClientView,
    FeedPosition,
    FormSubmission,
    Location,
    MutationResult,
    Seen,
    SyncRequest,
    SyncResponse,
    TaskOutcome,
    TaskView,
    TenantPreferences,
    VisitUpsert,
    VisitView,
)
from server.api import alerts, device_calls, devices, directory, visits
from server.openapi import shapes
from server.services.device_report import FeedLag, ReportRow
from server.services.preferences import PreferenceChange
from server.services.seen_history import ChangeSeen, SeenBy, SeenHistory
from server.services.visit_verification.exceptions import ExceptionCode
from server.services.visit_verification.rows import VerificationRow

_AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
_STARTS = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
_ENDS = datetime(2026, 12, 8, 8, 45, tzinfo=UTC)
_LATER = datetime(2027, 3, 7, 9, 30, tzinfo=UTC)
_VISIT, _CARER, _BRANCH, _CLIENT = "vis_8Yc2kQ", "usr_carer_A1", "br_north", "cl_ruth_m"
_DEVICE, _TASK, _ALERT, _USER = "dev_3hT9x", "tsk_meds", "alr_42", "usr_dana"

_visit = VisitView(
    id=_VISIT,
    branch_id=_BRANCH,
    client=ClientView(id=_CLIENT, name="Ruth Morris", address="12 Elm Road"),
    starts_at=_STARTS,
    ends_at=_ENDS,
    status="scheduled",
    carer_ids=[_CARER],
    tasks=[TaskView(id=_TASK, title="Morning medication", position=0)],
    version=3,
    notes="Key safe code in the care plan.",
)
_preferences = TenantPreferences(
    auto_sync_enabled=True, auto_sync_interval_s=900, mismatch_grace_s=300, timezone="Europe/London"
)
_alert = AlertView(
    id=_ALERT,
    carer_id=_CARER,
    carer_name="Amara Okafor",
    branch_id=_BRANCH,
    status="open",
    severity="high",
    diagnosis="offline",
    raised_at=_AT,
    updated_at=_AT,
    closed_at=None,
    closed_by=None,
    first_unacked_seq=41,
    head_seq=42,
    earliest_start=_STARTS,
    minutes_until_start=1350,
    devices=[
        AlertDevice(
            device_id=_DEVICE,
            name="Amara's phone",
            uuid="6f1c2b0e-6a8e-4c53-9a53-0d7c1b1f3e21",
            connected=False,
            last_seen_at=_AT,
            last_sync_at=_AT,
            acked_seq=40,
            head_seq=42,
            state="offline",
        )
    ],
    visits=[
        AlertVisit(
            visit_id=_VISIT,
            client_name="Ruth Morris",
            starts_at=_STARTS,
            ends_at=_ENDS,
            status="scheduled",
            change="moved to 08:00",
            seq=41,
        )
    ],
    action="Call Amara: her phone has been offline since 09:30.",
)
_report_row = ReportRow(
    device_id=_DEVICE,
    device_name="Amara's phone",
    uuid="6f1c2b0e-6a8e-4c53-9a53-0d7c1b1f3e21",
    branch_id=_BRANCH,
    branch_name="North office",
    users=["Amara Okafor"],
    last_api_call_at=_AT,
    last_api_call_ok=True,
    last_api_error=None,
    last_successful_sync_at=_AT,
    in_sync=False,
    last_standard_sync_at=_AT,
    last_ack_at=_AT,
    app_version="2.4.1",
    platform="android",
    model="Pixel 8",
    shared=False,
    active=True,
    connected_now=False,
    sync_lag_changes=2,
    sync_lag_seconds=540,
    stale=False,
    open_alerts=[_ALERT],
    feeds=[FeedLag(carer_id=_CARER, epoch=1, head=42, acked=40, lag_changes=2, lag_seconds=540)],
)
_position = FeedPosition(feed=_CARER, epoch=1, seq=40)
_token_view = shapes.StaffTokenView(
    id="tok_7Qm", name="rostering import", created_at=_AT, expires_at=_LATER, last_used_at=_AT, revoked_at=None
)

_EXAMPLES: dict[Any, Any] = {
    shapes.ErrorBody: shapes.ErrorBody(
        shapes.ErrorDetail(code="invalid_input", message="ends_at must be after starts_at")
    ),
    # --- rota
    VisitView: _visit,
    visits.CreateVisitBody: visits.CreateVisitBody(
        client_id=_CLIENT,
        starts_at=_STARTS,
        ends_at=_ENDS,
        carer_ids=[_CARER],
        tasks=[visits.TaskBody(title="Morning medication")],
        notes="Key safe code in the care plan.",
    ),
    visits.NotesBody: visits.NotesBody(notes="Use the side door: the key safe moved.", needs_seen=True),
    visits.RescheduleBody: visits.RescheduleBody(starts_at=_STARTS, ends_at=_ENDS),
    visits.ReassignBody: visits.ReassignBody(carer_ids=[_CARER]),
    visits.TaskBody: visits.TaskBody(title="Prepare lunch"),
    visits.ChangeTaskBody: visits.ChangeTaskBody(title="Prepare a light lunch"),
    shapes.VisitPage: shapes.VisitPage(visits=[_visit], page=1, page_size=200, next_page=None),
    shapes.FeedReset: shapes.FeedReset(carer_id=_CARER, epoch=2, head=14),
    # --- directory and tenant
    directory.BranchBody: directory.BranchBody(name="North office"),
    shapes.BranchCreated: shapes.BranchCreated(id=_BRANCH, name="North office"),
    directory.UserBody: directory.UserBody(name="Dana Reyes", role="coordinator", branch_id=_BRANCH),
    shapes.UserCreated: shapes.UserCreated(id=_USER, name="Dana Reyes", role="coordinator", branch_id=_BRANCH),
    directory.TokenBody: directory.TokenBody(name="rostering import", ttl_s=90 * 86400),
    shapes.StaffTokenIssued: shapes.StaffTokenIssued(
        id="tok_7Qm", token="cs_staff_4sWq...", name="rostering import", expires_at=_LATER
    ),
    shapes.StaffTokenView: _token_view,
    shapes.StaffTokenList: shapes.StaffTokenList(tokens=[_token_view]),
    alerts.PasswordBody: alerts.PasswordBody(login="dana@agency.example", password="correct horse battery"),
    shapes.PasswordSet: shapes.PasswordSet(id=_USER, login="dana@agency.example"),
    directory.ClientBody: directory.ClientBody(name="Ruth Morris", branch_id=_BRANCH, address="12 Elm Road"),
    shapes.ClientCreated: shapes.ClientCreated(id=_CLIENT, name="Ruth Morris", branch_id=_BRANCH),
    TenantPreferences: _preferences,
    PreferenceChange: PreferenceChange(auto_sync_interval_s=600, timezone="Europe/London"),
    # --- staff sign-in and alerts
    alerts.SignInBody: alerts.SignInBody(login="dana@agency.example", password="correct horse battery"),
    shapes.SignedIn: shapes.SignedIn(
        token="cs_staff_9dKe...",
        expires_at=_LATER,
        user=shapes.SignedInUser(id=_USER, name="Dana Reyes", role="coordinator", branch_id=_BRANCH),
    ),
    shapes.SignedOut: shapes.SignedOut(signed_out=True),
    AlertView: _alert,
    shapes.AlertList: shapes.AlertList(alerts=[_alert]),
    # --- devices
    devices.DeviceBody: devices.DeviceBody(
        name="Amara's phone", carer_ids=[_CARER], branch_id=_BRANCH, platform="android", model="Pixel 8"
    ),
    shapes.DeviceCreated: shapes.DeviceCreated(id=_DEVICE, token=None),
    devices.RenameBody: devices.RenameBody(name="North office spare phone"),
    shapes.DeviceRenamed: shapes.DeviceRenamed(id=_DEVICE, name="North office spare phone"),
    shapes.DeviceDeleted: shapes.DeviceDeleted(id=_DEVICE, deleted=True),
    devices.AssignBody: devices.AssignBody(carer_ids=[_CARER, "usr_carer_B2"]),
    shapes.DeviceAssigned: shapes.DeviceAssigned(id=_DEVICE, carer_ids=[_CARER, "usr_carer_B2"]),
    shapes.DeviceDeactivated: shapes.DeviceDeactivated(id=_DEVICE, active=False),
    shapes.DeviceRevoked: shapes.DeviceRevoked(id=_DEVICE, revoked=True),
    shapes.DeviceToken: shapes.DeviceToken(id=_DEVICE, token="cs_dev_Wm2p..."),
    devices.CodeBody: devices.CodeBody(ttl_s=900),
    shapes.EnrolmentCode: shapes.EnrolmentCode(code="K7PQ-2XMD-9HRT", expires_at=_AT),
    shapes.ResyncRequested: shapes.ResyncRequested(id=_DEVICE, resync_requested=True),
    shapes.DeviceReportPage: shapes.DeviceReportPage(
        devices=[_report_row], total=1, page=1, page_size=50, timezone="Europe/London"
    ),
    shapes.VisitVerificationExport: shapes.VisitVerificationExport(
        timezone="Europe/London",
        from_=date(2026, 12, 8),
        to=date(2026, 12, 8),
        branch_id=_BRANCH,
        generated_at=_AT,
        visits=[
            VerificationRow(
                visit_id=_VISIT,
                date=date(2026, 12, 8),
                branch_id=_BRANCH,
                branch_name="North office",
                visit_type="single",
                services=["Morning medication"],
                client_id=_CLIENT,
                client_name="Ruth Morris",
                client_address="12 Elm Road",
                carer_id=_CARER,
                carer_name="Amara Okafor",
                carer_assigned=True,
                scheduled_start=_STARTS,
                scheduled_end=_ENDS,
                check_in_at=_STARTS,
                check_in_received_at=_STARTS,
                check_in_lat=51.5072,
                check_in_lon=-0.1276,
                check_in_accuracy_m=12.0,
                check_out_at=None,
                check_out_received_at=None,
                check_out_lat=None,
                check_out_lon=None,
                check_out_accuracy_m=None,
                duration_minutes=None,
                visit_status="in_progress",
                exceptions=[ExceptionCode.MISSING_CHECK_OUT],
            )
        ],
    ),
    # --- the device's own calls
    device_calls.EnrolBody: device_calls.EnrolBody(
        code="K7PQ-2XMD-9HRT", uuid="6f1c2b0e-6a8e-4c53-9a53-0d7c1b1f3e21", app_version="2.4.1", platform="android"
    ),
    shapes.Enrolled: shapes.Enrolled(device_id=_DEVICE, token="cs_dev_Wm2p..."),
    SyncRequest: SyncRequest(
        request_id="req-0193",
        mutations=[
            CheckIn(
                mutation_id=17,
                carer_id=_CARER,
                visit_id=_VISIT,
                captured_at=_STARTS,
                location=Location(lat=51.5072, lon=-0.1276, accuracy_m=12.0),
            ),
            TaskOutcome(mutation_id=18, carer_id=_CARER, visit_id=_VISIT, captured_at=_ENDS, task_id=_TASK, done=True),
            FormSubmission(
                mutation_id=19,
                carer_id=_CARER,
                visit_id=_VISIT,
                captured_at=_ENDS,
                form="fluid-chart",
                data={"drinks_ml": 450, "refused": False},
            ),
        ],
        positions=[_position],
    ),
    SyncResponse: SyncResponse(
        request_id="req-0193",
        results=[
            MutationResult(mutation_id=17, status="applied", record_id="rec_1"),
            MutationResult(mutation_id=18, status="applied", record_id="rec_2"),
            MutationResult(mutation_id=19, status="applied", record_id="rec_3"),
        ],
        changes=[Change(feed=_CARER, epoch=1, seq=41, committed_at=_AT, payload=VisitUpsert(visit=_visit))],
        heads=[FeedPosition(feed=_CARER, epoch=1, seq=41)],
    ),
    Ack: Ack(feed=_CARER, epoch=1, seq=41),
    Seen: Seen(request_id="seen-7", feed=_CARER, epoch=1, seqs=[41], seen_at=_AT),
    SeenHistory: SeenHistory(
        visit_id=_VISIT,
        changes=[
            ChangeSeen(
                carer_id=_CARER,
                carer_name="Amara Okafor",
                epoch=1,
                seq=41,
                committed_at=_AT,
                change="moved to 08:00",
                needs_seen=True,
                delivered=True,
                seen=SeenBy(device_id=_DEVICE, device_name="Amara's phone", seen_at=_AT, recorded_at=_AT),
            )
        ],
    ),
    CleanSyncRequest: CleanSyncRequest(request_id="clean-1", feed=_CARER),
    CleanSyncResponse: CleanSyncResponse(
        request_id="clean-1",
        feed=_CARER,
        snapshot_id="snap_5f",
        epoch=1,
        seq=41,
        page=1,
        pages=1,
        visits=[_visit],
        next_cursor=None,
    ),
}


@cache
def _encoded(kind: Any) -> Any:
    example = _EXAMPLES.get(kind)
    return None if example is None else msgspec.json.decode(encode(example))


def example_of(kind: Any) -> Any:
    """The example of ``kind`` as JSON values, or None when it has none."""
    return _encoded(kind)


def typed_examples() -> dict[Any, Any]:
    """Every type that has an example, with it (for tests)."""
    return dict(_EXAMPLES)
