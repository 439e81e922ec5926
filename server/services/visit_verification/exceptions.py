"""The exceptions of a visit verification row: what the records do not prove, or prove
went differently from the plan. Each is derived from stored data only (docs/visit-verification.md).

Every check-in and check-out time in caresync is captured by the carer's device; the
office cannot type one in or correct one. So the "manual edit" an export can show is
the office changing the visit itself once it had begun (``office_changed_after_start``),
and a time the device's clock got wrong shows as ``device_clock_ahead``.
"""

from __future__ import annotations

from enum import StrEnum

from protocol.errors import ConflictReason
from server.services.visit_verification.facts import Capture, VisitFacts
from server.tunables import CLOCK_AHEAD_TOLERANCE_MS


class ExceptionCode(StrEnum):
    NO_CARER = "no_carer"
    """Nobody is assigned to the visit and nobody recorded care at it."""
    MISSING_CHECK_IN = "missing_check_in"
    """The visit has ended (or the carer checked out) and this carer never checked in."""
    MISSING_CHECK_OUT = "missing_check_out"
    """The carer checked in, the visit has ended and they never checked out."""
    NO_LOCATION_AT_CHECK_IN = "no_location_at_check_in"
    """The device sent no location with the check-in."""
    NO_LOCATION_AT_CHECK_OUT = "no_location_at_check_out"
    """The device sent no location with the check-out."""
    CHECK_OUT_BEFORE_CHECK_IN = "check_out_before_check_in"
    """The check-out was captured before the check-in."""
    REPEATED_CHECK_IN = "repeated_check_in"
    """The carer checked in more than once (say, from two phones); the first one is used."""
    REPEATED_CHECK_OUT = "repeated_check_out"
    """The carer checked out more than once; the first one is used."""
    DEVICE_CLOCK_AHEAD = "device_clock_ahead"
    """A check-in or check-out was captured more than five minutes after the server
    received it: the device's clock ran ahead, so its times are not to be trusted."""
    CANCELLED_WITH_CARE = "cancelled_with_care"
    """The office cancelled the visit and this carer recorded care at it all the same."""
    RECORDED_AFTER_REASSIGNMENT = "recorded_after_reassignment"
    """This carer recorded care at the visit after the office had taken it from them
    (the server stored it flagged ``visit_reassigned``)."""
    OFFICE_CHANGED_AFTER_START = "office_changed_after_start"
    """The office created or changed the visit (times, carers, tasks, notes, cancellation)
    at or after its scheduled start: the schedule shown is not the one the carer started from."""


def exceptions_of(
    visit: VisitFacts,
    carer_id: str | None,
    check_ins: list[Capture],
    check_outs: list[Capture],
    now_ms: int,
) -> list[ExceptionCode]:
    """The exceptions of one carer's row of ``visit``, in the order of :class:`ExceptionCode`.

    ``check_ins`` and ``check_outs`` are this carer's, earliest capture first."""
    found: set[ExceptionCode] = set()
    ended = now_ms >= visit.ends_at
    cancelled = visit.status == "cancelled"
    check_in = check_ins[0] if check_ins else None
    check_out = check_outs[0] if check_outs else None
    if carer_id is None:
        found.add(ExceptionCode.NO_CARER)
    elif not cancelled:
        if check_in is None and (ended or check_out is not None):
            found.add(ExceptionCode.MISSING_CHECK_IN)
        if check_in is not None and check_out is None and ended:
            found.add(ExceptionCode.MISSING_CHECK_OUT)
    if check_in is not None and check_in.place is None:
        found.add(ExceptionCode.NO_LOCATION_AT_CHECK_IN)
    if check_out is not None and check_out.place is None:
        found.add(ExceptionCode.NO_LOCATION_AT_CHECK_OUT)
    if check_in is not None and check_out is not None and check_out.captured_at < check_in.captured_at:
        found.add(ExceptionCode.CHECK_OUT_BEFORE_CHECK_IN)
    if len(check_ins) > 1:
        found.add(ExceptionCode.REPEATED_CHECK_IN)
    if len(check_outs) > 1:
        found.add(ExceptionCode.REPEATED_CHECK_OUT)
    if any(c.captured_at > c.received_at + CLOCK_AHEAD_TOLERANCE_MS for c in (*check_ins, *check_outs)):
        found.add(ExceptionCode.DEVICE_CLOCK_AHEAD)
    recorded = carer_id is not None and visit.care_by_carer.get(carer_id, 0) > 0
    if cancelled and recorded:
        found.add(ExceptionCode.CANCELLED_WITH_CARE)
    if carer_id is not None and ConflictReason.VISIT_REASSIGNED in visit.conflicts_by_carer.get(carer_id, set()):
        found.add(ExceptionCode.RECORDED_AFTER_REASSIGNMENT)
    if visit.updated_at >= visit.starts_at:
        found.add(ExceptionCode.OFFICE_CHANGED_AFTER_START)
    return [code for code in ExceptionCode if code in found]
