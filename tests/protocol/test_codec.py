from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from protocol import MAX_FRAME_BYTES
from protocol.codec import decode_device_frame, decode_server_frame, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import (
    Ack,
    Change,
    CheckIn,
    ClientView,
    Error,
    FeedPosition,
    FeedStatus,
    FormSubmission,
    Heartbeat,
    Hello,
    Location,
    MutationResult,
    SyncRequest,
    SyncResponse,
    TaskOutcome,
    TaskView,
    TenantPreferences,
    VisitNote,
    VisitRemoved,
    VisitUpsert,
    VisitView,
    Welcome,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
VISIT = VisitView(
    id="v1",
    branch_id="b1",
    client=ClientView(id="c1", name="Mrs Patel", address="1 High St"),
    starts_at=NOW,
    ends_at=NOW,
    status="scheduled",
    carer_ids=["k1"],
    tasks=[TaskView(id="t1", title="Medication", position=0)],
    version=3,
)

DEVICE_FRAMES = [
    Hello(
        token="t",
        device_uuid="u",
        app_version="1.0",
        protocol_version=1,
        positions=[FeedPosition(feed="k1", epoch=1, seq=4)],
    ),
    Ack(feed="k1", epoch=1, seq=5),
    Heartbeat(),
    SyncRequest(
        request_id="r1",
        mutations=[
            CheckIn(
                mutation_id=1, carer_id="k1", visit_id="v1", captured_at=NOW, location=Location(lat=51.5, lon=-0.1)
            ),
            TaskOutcome(
                mutation_id=2, carer_id="k1", visit_id="v1", captured_at=NOW, task_id="t1", done=False, reason="asleep"
            ),
            VisitNote(mutation_id=3, carer_id="k1", visit_id="v1", captured_at=NOW, text="ok"),
            FormSubmission(mutation_id=4, carer_id="k1", visit_id="v1", captured_at=NOW, form="mar", data={"dose": 2}),
        ],
        positions=[FeedPosition(feed="k1", epoch=1, seq=4)],
    ),
]

SERVER_FRAMES = [
    Welcome(
        device_id="d1",
        server_time=NOW,
        feeds=[FeedStatus(feed="k1", carer_name="Amara", epoch=1, head=9, action="catch_up")],
        preferences=TenantPreferences(
            auto_sync_enabled=True, auto_sync_interval_s=900, mismatch_grace_s=120, timezone="Europe/London"
        ),
        heartbeat_interval_s=25,
        max_frame_bytes=MAX_FRAME_BYTES,
    ),
    Change(feed="k1", epoch=1, seq=5, committed_at=NOW, payload=VisitUpsert(visit=VISIT)),
    Change(feed="k1", epoch=1, seq=6, committed_at=NOW, payload=VisitRemoved(visit_id="v1", reason="reassigned")),
    Heartbeat(heads=[FeedPosition(feed="k1", epoch=1, seq=6)], server_time=NOW),
    SyncResponse(
        request_id="r1",
        results=[MutationResult(mutation_id=1, status="duplicate", record_id="x", original_status="applied")],
        changes=[],
        heads=[],
    ),
    Error(code="malformed_frame", message="bad", request_id=None),
]


@pytest.mark.parametrize("frame", DEVICE_FRAMES, ids=lambda f: type(f).__name__)
def test_device_frames_round_trip(frame: object) -> None:
    assert decode_device_frame(encode(frame)) == frame


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: type(f).__name__)
def test_server_frames_round_trip(frame: object) -> None:
    assert decode_server_frame(encode(frame).decode()) == frame


def test_frames_are_tagged_by_type() -> None:
    assert json.loads(encode(Ack(feed="k", epoch=1, seq=2))) == {"type": "ack", "feed": "k", "epoch": 1, "seq": 2}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    frame = decode_device_frame(b'{"type": "ack", "feed": "k", "epoch": 1, "seq": 2, "new_field": true}')
    assert frame == Ack(feed="k", epoch=1, seq=2)


@pytest.mark.parametrize(
    ("raw", "code", "request_id"),
    [
        (b"{", ErrorCode.MALFORMED_FRAME, None),
        (b"[]", ErrorCode.INVALID_FRAME, None),
        (b'{"type": "nope"}', ErrorCode.UNKNOWN_FRAME_TYPE, None),
        (b'{"seq": 1}', ErrorCode.UNKNOWN_FRAME_TYPE, None),
        (b'{"type": "welcome"}', ErrorCode.UNKNOWN_FRAME_TYPE, None),
        (b'{"type": "ack", "feed": "k", "epoch": 1}', ErrorCode.INVALID_FRAME, None),
        (b'{"type": "sync_request", "request_id": "abc", "page_size": 0}', ErrorCode.INVALID_FRAME, "abc"),
        (b'{"type": "sync_request", "request_id": 5, "page_size": 0}', ErrorCode.INVALID_FRAME, None),
    ],
)
def test_decode_errors_map_to_stable_codes(raw: bytes, code: ErrorCode, request_id: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(raw)
    assert caught.value.code == code
    assert caught.value.request_id == request_id


def test_server_frame_sent_by_device_direction_is_unknown() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_server_frame(encode(Ack(feed="k", epoch=1, seq=1)))
    assert caught.value.code == ErrorCode.UNKNOWN_FRAME_TYPE


def test_oversize_frame_is_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(b" " * (MAX_FRAME_BYTES + 1))
    assert caught.value.code == ErrorCode.FRAME_TOO_LARGE


def test_naive_times_are_accepted_only_with_offset_in_output() -> None:
    encoded = encode(Heartbeat(server_time=NOW))
    assert b"2026-11-26T09:30:00.000Z" in encoded
