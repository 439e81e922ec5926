"""Office input checked against the wire limits (:mod:`protocol.limits`), where it enters.

The REST API and the console reach the rota and directory services, which call these, so
both refuse what a carer's device could not decode with the same clear 422. The last
line of defence, :func:`checked_change_frame`, runs on every encoded change before it is
stored: a field can be within its limit and the frame still too large (multi-byte text).

Rows written before these checks existed may still break a limit; :func:`clamped_view`
renders them so that a device can always decode what it is sent.
"""

from __future__ import annotations

from protocol.codec import decode_server_frame
from protocol.errors import ProtocolError
from protocol.frames import ClientView, TaskView, VisitView
from protocol.limits import MAX_CHANGE_FRAME_BYTES, MAX_LONG_TEXT_CHARS, MAX_SHORT_TEXT_CHARS, MAX_TASKS_PER_VISIT
from server.services.errors import InvalidInput


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
