"""The one time writer: every time a body carries is ``YYYY-MM-DDTHH:MM:SS.mmmZ``, and
nothing else in the body is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from protocol.codec import encode
from protocol.frames import Heartbeat
from protocol.time_text import TIME_TEXT, fixed_width_times, format_time


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 11, 26, 9, 30, tzinfo=UTC), "2026-11-26T09:30:00.000Z"),
        (datetime(2026, 11, 26, 9, 30, 16, 496000, tzinfo=UTC), "2026-11-26T09:30:16.496Z"),
        (datetime(2026, 11, 26, 9, 30, 16, 999999, tzinfo=UTC), "2026-11-26T09:30:16.999Z"),
        (datetime(2026, 11, 26, 9, 30, 16, 1, tzinfo=UTC), "2026-11-26T09:30:16.000Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
    ],
)
def test_every_time_is_written_in_the_one_form(moment: datetime, written: str) -> None:
    assert format_time(moment) == written
    assert TIME_TEXT.fullmatch(written)
    quoted = f'"{written}"'.encode()
    # As a whole body, in an object, a list, a struct and beside other values.
    assert encode(moment) == quoted
    assert encode({"at": moment}) == b'{"at":' + quoted + b"}"
    assert encode([moment, moment]) == b"[" + quoted + b"," + quoted + b"]"
    assert encode(Heartbeat(heads=[], server_time=moment)).endswith(b'"server_time":' + quoted + b"}")
    assert encode({"a": "x", "b": moment, "c": 1}) == b'{"a":"x","b":' + quoted + b',"c":1}'


def test_a_time_with_an_offset_is_written_in_utc_by_format_time() -> None:
    moment = datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2025-12-31T23:30:00.000Z"


@pytest.mark.parametrize(
    "untouched",
    [
        b'{"a":"Z","b":"x:00Z"}',
        b'{"n":"say \\"2026-01-01T00:00:00Z"}',  # text that contains a time
        b'{"n":"2026-01-01T00:00:00.12345xZ"}',
        b'{"n":"2026-01-01T00:00:00.1234Z"}',
        b'{"n":"2026-01-01 00:00:00Z"}',
        b'{"n":"20260101T00:00:00Z"}',
        b'{"n":"x2026-01-01T00:00:00Z"}',
        b'{"2026-01-01T00:00:00Z":1,"2026-01-02T00:00:00Z":2}',  # keys are not times
        b'{"type":"ack"}',
        b"",
    ],
)
def test_nothing_but_time_values_is_touched(untouched: bytes) -> None:
    assert fixed_width_times(untouched) == untouched


def test_what_msgspec_writes_for_a_time_value_is_rewritten_wherever_it_is() -> None:
    raw = msgspec.json.encode(
        {
            "2026-01-01T00:00:00Z": [
                datetime(2026, 1, 1, tzinfo=UTC),
                {"t": datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC)},
            ],
            "z": "2026-01-01T00:00:00Z",
        }
    )
    assert fixed_width_times(raw) == (
        b'{"2026-01-01T00:00:00Z":["2026-01-01T00:00:00.000Z",{"t":"2026-01-01T00:00:00.000Z"}],'
        b'"z":"2026-01-01T00:00:00.000Z"}'
    )
