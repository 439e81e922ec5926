"""One visit's facts made into its verification rows: one row per carer (pure, no I/O).

A visit has a row for each carer assigned to it now and each carer who recorded care at
it (a former assignee's check-in still counts); a visit with neither has one row without
a carer. A double-up visit (two carers) thus has two rows, each with that carer's own
check-in and check-out: each carer's time is verified on its own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from server.clock import to_datetime
from server.services.visit_status import Recorded, VisitState, state_of
from server.services.visit_verification.exceptions import ExceptionCode, exceptions_of
from server.services.visit_verification.facts import Capture, VisitFacts

VisitType = Literal["single", "double_up", "unassigned"]


class VerificationRow(msgspec.Struct, kw_only=True):
    """One carer's verification record of one visit; the fields in CSV column order."""

    visit_id: str
    date: date
    """The visit's scheduled start as a date in the tenant's time zone."""
    branch_id: str
    branch_name: str
    visit_type: VisitType
    """``double_up`` when two or more carers are assigned, ``unassigned`` when none is."""
    services: list[str]
    """The care the visit delivers: its task titles, in order."""
    client_id: str
    client_name: str
    client_address: str
    carer_id: str | None
    carer_name: str | None
    carer_assigned: bool
    """The carer is assigned to the visit now (false: a former assignee who recorded care)."""
    scheduled_start: datetime
    scheduled_end: datetime
    check_in_at: datetime | None
    """When the carer checked in, by the device's clock (the earliest check-in)."""
    check_in_received_at: datetime | None
    """When the server stored that check-in (later than the capture when the phone was offline)."""
    check_in_lat: float | None
    check_in_lon: float | None
    check_in_accuracy_m: float | None
    check_out_at: datetime | None
    check_out_received_at: datetime | None
    check_out_lat: float | None
    check_out_lon: float | None
    check_out_accuracy_m: float | None
    duration_minutes: int | None
    """Whole minutes from check-in to check-out, when both are recorded in that order."""
    visit_status: VisitState
    """The visit's status as the console shows it (docs/protocol.md, "Visit status")."""
    exceptions: list[ExceptionCode]


COLUMNS: tuple[str, ...] = VerificationRow.__struct_fields__
"""The CSV header: every field of a row, in order."""


def rows_of(visit: VisitFacts, now_ms: int, grace_ms: int, zone: ZoneInfo) -> list[VerificationRow]:
    """The rows of ``visit``, carers by name."""
    check_ins = _by_carer(visit.check_ins)
    check_outs = _by_carer(visit.check_outs)
    assigned_now = sorted(c for c, current in visit.assigned.items() if current)
    carers = set(assigned_now) | set(visit.care_by_carer) | set(check_ins) | set(check_outs)
    by_name = sorted(carers, key=lambda c: (visit.carer_names.get(c, ""), c))
    ordered: list[str | None] = [*by_name] if by_name else [None]
    state = state_of(
        visit.status,
        visit.starts_at,
        visit.ends_at,
        Recorded(_earliest(visit.check_ins), _earliest(visit.check_outs)),
        now_ms,
        grace_ms,
    )
    visit_type: VisitType = "unassigned" if not assigned_now else "double_up" if len(assigned_now) > 1 else "single"
    rows = []
    for carer_id in ordered:
        ins = check_ins.get(carer_id, []) if carer_id else []
        outs = check_outs.get(carer_id, []) if carer_id else []
        first_in = ins[0] if ins else None
        first_out = outs[0] if outs else None
        rows.append(
            VerificationRow(
                visit_id=visit.visit_id,
                date=to_datetime(visit.starts_at).astimezone(zone).date(),
                branch_id=visit.branch_id,
                branch_name=visit.branch_name,
                visit_type=visit_type,
                services=visit.services,
                client_id=visit.client_id,
                client_name=visit.client_name,
                client_address=visit.client_address,
                carer_id=carer_id,
                carer_name=visit.carer_names.get(carer_id) if carer_id else None,
                carer_assigned=bool(carer_id and visit.assigned.get(carer_id, False)),
                scheduled_start=to_datetime(visit.starts_at),
                scheduled_end=to_datetime(visit.ends_at),
                check_in_at=_time(first_in.captured_at if first_in else None),
                check_in_received_at=_time(first_in.received_at if first_in else None),
                check_in_lat=first_in.place.lat if first_in and first_in.place else None,
                check_in_lon=first_in.place.lon if first_in and first_in.place else None,
                check_in_accuracy_m=first_in.place.accuracy_m if first_in and first_in.place else None,
                check_out_at=_time(first_out.captured_at if first_out else None),
                check_out_received_at=_time(first_out.received_at if first_out else None),
                check_out_lat=first_out.place.lat if first_out and first_out.place else None,
                check_out_lon=first_out.place.lon if first_out and first_out.place else None,
                check_out_accuracy_m=first_out.place.accuracy_m if first_out and first_out.place else None,
                duration_minutes=_minutes(first_in, first_out),
                visit_status=state,
                exceptions=exceptions_of(visit, carer_id, ins, outs, now_ms),
            )
        )
    return rows


def _by_carer(captures: list[Capture]) -> dict[str, list[Capture]]:
    found: dict[str, list[Capture]] = {}
    for capture in sorted(captures, key=lambda c: (c.captured_at, c.received_at)):
        found.setdefault(capture.carer_id, []).append(capture)
    return found


def _earliest(captures: list[Capture]) -> int | None:
    return min((c.captured_at for c in captures), default=None)


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else to_datetime(ms)


def _minutes(check_in: Capture | None, check_out: Capture | None) -> int | None:
    if check_in is None or check_out is None or check_out.captured_at < check_in.captured_at:
        return None
    return (check_out.captured_at - check_in.captured_at) // 60_000
