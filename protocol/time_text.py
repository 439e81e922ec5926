"""The one way a time is written in every body the server sends: ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

UTC, exactly three fraction digits (milliseconds, the store's precision), always ``Z``:
fixed width, so strict ISO 8601 parsers (Swift's ``ISO8601DateFormatter`` with fractional
seconds) read every one and the texts sort as the times do (docs/protocol.md §1).

msgspec writes a UTC time as ``…:16Z`` or ``…:16.496000Z``; :func:`fixed_width_times`
rewrites what it wrote, so that :func:`protocol.codec.encode`, which every frame and every
HTTP body goes through, writes one form. The server builds its times in UTC
(``server.clock.to_datetime``); an offset other than ``Z`` is never written. A text value
that is itself exactly such a time (say, a form answer) is written in the one form too:
the same instant, to the millisecond.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
"""The exact form of every time the server writes."""

_WRITTEN = re.compile(rb'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z"')
"""A time as msgspec writes it, quotes included: no fraction, or six digits."""

_BEFORE_A_VALUE = (b":", b"[", b",")
"""What precedes a JSON value in msgspec's output, which has no whitespace."""


def format_time(moment: datetime) -> str:
    """``moment`` in the one form (for text that is not encoded by msgspec, e.g. messages)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def fixed_width_times(raw: bytes) -> bytes:
    """``raw`` (JSON as msgspec writes it) with every time value in the one form.

    Only whole string *values* of the shape msgspec gives a time are rewritten: not keys,
    not text that merely contains a time. Plain byte searching for the closing ``Z"``,
    with the shape checked at those places only: several times faster than a regular
    expression over the whole body, and this is the fan-out hot path.
    """
    end = raw.find(b'Z"')
    if end < 0:
        return raw
    out: list[bytes] = []
    start = 0
    while end >= 0:
        if raw[end + 2 : end + 3] != b":":  # a key is followed by a colon
            if raw[end - 7 : end - 6] == b"." and _is_value(raw, end - 27, end + 2):
                out.append(raw[start : end - 3])  # six digits: keep the milliseconds
                start = end
            elif _is_value(raw, end - 20, end + 2):
                out.append(raw[start:end])
                out.append(b".000")
                start = end
        end = raw.find(b'Z"', end + 2)
    if not out:
        return raw
    out.append(raw[start:])
    return b"".join(out)


def _is_value(raw: bytes, opening: int, closing_end: int) -> bool:
    """Whether ``raw[opening:closing_end]`` is a whole JSON string value shaped as a time."""
    return (
        opening >= 0
        and (opening == 0 or raw[opening - 1 : opening] in _BEFORE_A_VALUE)
        and _WRITTEN.fullmatch(raw, opening, closing_end) is not None
    )
