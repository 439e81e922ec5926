"""Office input checked against the wire limits (:mod:`protocol.limits`), where it enters.

The REST API, the console and the command line reach the rota and directory services,
which call these, so all of them refuse what a carer's device could not decode (or the
store could not hold) with the same clear words: a 422 ``invalid_input`` over HTTP, one
``error:`` line on the command line. Times lie in :data:`EARLIEST_TIME` ..
:data:`LATEST_TIME`; a time zone is an IANA name. The last
line of defence, :func:`checked_change_frame`, runs on every encoded change before it is
stored: a field can be within its limit and the frame still too large (multi-byte text).

Rows written before these checks existed may still break a limit; :func:`clamped_view`
renders them so that a device can always decode what it is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

from protocol.codec import decode_server_frame
from protocol.errors import ProtocolError
from protocol.frames import ClientView, TaskView, VisitView
from protocol.limits import MAX_CHANGE_FRAME_BYTES, MAX_LONG_TEXT_CHARS, MAX_SHORT_TEXT_CHARS, MAX_TASKS_PER_VISIT
from protocol.time_text import format_time
from server.services.errors import InvalidInput

EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
"""Every time the office gives (visit times, list windows) lies in ``[EARLIEST_TIME,
LATEST_TIME)`` in UTC, whatever its offset: far inside what every store, every device
platform and Python's ``datetime`` (years 1 to 9999 in UTC) can hold, so every accepted
time round-trips."""


def checked_text(value: str, field: str, *, required: bool = True) -> str:
    """A name, address or title: at most 200 characters (1 to 200 when ``required``)."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters")
    if (required and not value.strip()) or len(value) > MAX_SHORT_TEXT_CHARS:
        low = 1 if required else 0
        raise InvalidInput(f"{field} must be {low} to {MAX_SHORT_TEXT_CHARS} characters (got {len(value)})")
    return value


def checked_notes(notes: str) -> str:
    """Visit notes: at most 10,000 characters, as on the wire."""
    if "\x00" in notes:
        raise InvalidInput("notes must not contain NUL characters")
    if len(notes) > MAX_LONG_TEXT_CHARS:
        raise InvalidInput(f"notes must be at most {MAX_LONG_TEXT_CHARS} characters (got {len(notes)})")
    return notes


def checked_time(moment: datetime, field: str) -> datetime:
    """A time the office gives: it carries an offset and lies in the supported range."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a UTC offset (Z or ±hh:mm)")
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        raise InvalidInput(
            f"{field} must lie from {format_time(EARLIEST_TIME)} up to (not including) "
            f"{format_time(LATEST_TIME)}; got {moment.isoformat()}"
        )
    return moment


def checked_timezone(name: str) -> str:
    """A tenant's time zone: an IANA name (``Europe/London``), which every device knows."""
    if name not in _known_zones():
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as Europe/London")
    return name


@cache
def _known_zones() -> frozenset[str]:
    """The IANA names in this host's time zone database (read once)."""
    return frozenset(available_timezones())


def check_task_count(count: int) -> None:
    if count > MAX_TASKS_PER_VISIT:
        raise InvalidInput(f"a visit holds at most {MAX_TASKS_PER_VISIT} tasks (removed ones included); got {count}")


def checked_change_frame(frame: bytes) -> bytes:
    """Refuse a change a conforming device could not decode, before it is stored."""
    if len(frame) > MAX_CHANGE_FRAME_BYTES:
        raise InvalidInput(
            f"this change would make a frame of {len(frame)} bytes, over the limit of {MAX_CHANGE_FRAME_BYTES}: "
            "shorten the notes or task titles, or remove tasks"
        )
    try:
        decode_server_frame(frame)
    except ProtocolError as exc:
        raise InvalidInput(f"this change cannot be sent to a device: {exc.message}") from exc
    return frame


def clamped_view(view: VisitView) -> VisitView:
    """The view with every field cut to its wire limit (only rows older than the checks need it)."""

    def cut(text: str, limit: int = MAX_SHORT_TEXT_CHARS) -> str:
        return text if len(text) <= limit else text[: limit - 1] + "…"

    client = view.client
    return VisitView(
        id=view.id,
        branch_id=view.branch_id,
        client=ClientView(id=client.id, name=cut(client.name), address=cut(client.address)),
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        status=view.status,
        carer_ids=view.carer_ids,
        tasks=[
            TaskView(id=t.id, title=cut(t.title), position=t.position, removed=t.removed)
            for t in view.tasks[:MAX_TASKS_PER_VISIT]
        ],
        version=view.version,
        notes=cut(view.notes, MAX_LONG_TEXT_CHARS),
    )
