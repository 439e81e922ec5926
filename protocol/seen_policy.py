"""Which changes need the carer's acknowledgement (docs/protocol.md, "Carer acknowledgement").

The tenant's ``seen_window_h`` preference decides, the same way on the phone and in the
office: a change needs the carer to say they have seen it when the visit it concerns
starts within ``seen_window_h`` hours of the change's commit, or is already under way at
that moment. Every kind of office change counts (a new visit, new times or notes, a
cancellation, a reassignment away from the carer); a change to a visit that had already
ended, or further ahead than the window, does not. ``seen_window_h`` 0 turns it off.

Whatever the window says, a ``visit_upsert`` the office sent with ``needs_seen`` (notes a
coordinator marked as needing acknowledgement) needs it.
"""

from __future__ import annotations

from protocol.frames import Change, VisitRemoved, VisitUpsert, VisitView

HOUR_MS = 3_600_000


def within_window(committed_at_ms: int, starts_at_ms: int, ends_at_ms: int, window_h: int) -> bool:
    """Whether a change committed at ``committed_at_ms`` to a visit over
    ``[starts_at_ms, ends_at_ms)`` needs the carer's acknowledgement."""
    if window_h <= 0 or ends_at_ms <= committed_at_ms:
        return False
    return starts_at_ms - committed_at_ms <= window_h * HOUR_MS


def needs_seen(change: Change, held: VisitView | None, window_h: int) -> bool:
    """Whether ``change`` needs the carer's acknowledgement. A ``visit_removed`` is judged
    by the copy of the visit the carer held (``held``; None: the carer never had it)."""
    if isinstance(change.payload, VisitUpsert) and change.payload.needs_seen:
        return True
    visit = held if isinstance(change.payload, VisitRemoved) else change.payload.visit
    if visit is None:
        return False
    return within_window(
        _ms(change.committed_at.timestamp()),
        _ms(visit.starts_at.timestamp()),
        _ms(visit.ends_at.timestamp()),
        window_h,
    )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
