"""A frame's type and a change's header, read without decoding the rest."""

from __future__ import annotations

from datetime import UTC, datetime

from protocol.peek import FRAME_TYPES, change_header, frame_type

CHANGE = (
    '{"type":"change","feed":"k","epoch":2,"seq":7,"committed_at":"2026-12-07T09:30:00.123Z",'
    '"payload":{"kind":"visit_removed","visit_id":"v","reason":"cancelled"}}'
)


def test_the_type_of_any_frame() -> None:
    assert frame_type(CHANGE) == "change"
    assert frame_type(b' { "type" : "heartbeat", "heads": [] }') == "heartbeat"
    assert frame_type('{"heads": []}') is None
    assert frame_type("not json") is None
    assert frame_type("[1, 2]") is None


def test_a_changes_header_and_nothing_for_other_frames() -> None:
    header = change_header(CHANGE)
    assert header is not None
    assert (header.feed, header.epoch, header.seq) == ("k", 2, 7)
    assert header.committed_at == datetime(2026, 12, 7, 9, 30, 0, 123000, tzinfo=UTC)
    assert change_header('{"type":"heartbeat","heads":[]}') is None
    assert change_header('{"type":"change","feed":"k"}') is None
    assert change_header(CHANGE.replace('"type":"change"', '"type":"event"')) is None
    assert change_header("{") is None


def test_the_known_frame_types_are_the_protocols() -> None:
    assert {"hello", "welcome", "change", "ack", "heartbeat", "sync_request", "console_hello", "event"} <= FRAME_TYPES
    assert "x_frame_of_a_later_version" not in FRAME_TYPES
