"""Which changes need the carer's acknowledgement: the tenant's window around the visit's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from protocol.codec import decode_device_frame, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import Change, ClientView, Seen, VisitRemoved, VisitUpsert, VisitView
from protocol.seen_policy import HOUR_MS, needs_seen, within_window

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _visit(starts_in_h: float, length_h: float = 1.0) -> VisitView:
    starts = NOON + timedelta(hours=starts_in_h)
    return VisitView(
        id="v1",
        branch_id="b1",
        client=ClientView(id="c1", name="Mrs Patel"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=length_h),
        status="scheduled",
        carer_ids=["carer"],
        tasks=[],
        version=2,
    )


def _upsert(visit: VisitView) -> Change:
    return Change(feed="carer", epoch=1, seq=3, committed_at=NOON, payload=VisitUpsert(visit=visit))


def _marked(visit: VisitView) -> Change:
    return Change(feed="carer", epoch=1, seq=5, committed_at=NOON, payload=VisitUpsert(visit=visit, needs_seen=True))


def test_a_visit_starting_inside_the_window_needs_it_and_one_beyond_does_not() -> None:
    assert within_window(0, 24 * HOUR_MS, 25 * HOUR_MS, 24)
    assert not within_window(0, 24 * HOUR_MS + 1, 25 * HOUR_MS, 24)
    assert needs_seen(_upsert(_visit(2)), None, 24)
    assert not needs_seen(_upsert(_visit(30)), None, 24)


def test_a_visit_under_way_needs_it_one_already_ended_does_not() -> None:
    assert needs_seen(_upsert(_visit(-0.5)), None, 24)
    assert not needs_seen(_upsert(_visit(-2)), None, 24)


def test_window_zero_turns_it_off() -> None:
    assert not needs_seen(_upsert(_visit(1)), None, 0)


def test_a_removal_is_judged_by_the_copy_the_carer_held() -> None:
    removed = Change(
        feed="carer", epoch=1, seq=4, committed_at=NOON, payload=VisitRemoved(visit_id="v1", reason="reassigned")
    )
    assert needs_seen(removed, _visit(1), 24)
    assert not needs_seen(removed, _visit(48), 24)
    assert not needs_seen(removed, None, 24)


def test_seen_round_trips_and_refuses_an_empty_list() -> None:
    frame = Seen(request_id="s1", feed="carer", epoch=1, seqs=[3, 4], seen_at=NOON)
    assert decode_device_frame(encode(frame)) == frame
    empty = b'{"type":"seen","request_id":"s2","feed":"f","epoch":1,"seqs":[],"seen_at":"2026-12-07T12:00:00Z"}'
    with pytest.raises(ProtocolError) as refused:
        decode_device_frame(empty)
    assert (refused.value.code, refused.value.request_id) == (ErrorCode.INVALID_FRAME, "s2")


def test_a_change_the_office_marked_needs_it_whatever_the_window() -> None:
    marked = _marked(_visit(72))
    assert needs_seen(marked, None, 24)
    assert needs_seen(marked, None, 0)
    assert not needs_seen(_upsert(_visit(72)), None, 24)


def test_the_mark_is_optional_on_the_wire() -> None:
    """An unmarked change is encoded without the field, byte for byte as before, and one
    without it decodes as not marked; a marked one says so."""
    change = _upsert(_visit(2))
    assert b"needs_seen" not in encode(change)
    assert msgspec.json.decode(encode(change), type=Change) == change
    marked = _marked(_visit(2))
    assert b'"needs_seen":true' in encode(marked)
