"""Each exception of a verification row, from a visit's facts alone (no store)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from server.services.visit_verification.exceptions import ExceptionCode as E
from server.services.visit_verification.facts import Capture, Place, VisitFacts
from server.services.visit_verification.rows import VerificationRow, rows_of

START, END = 1_800_000_000_000, 1_800_002_700_000
CREATED = START - 86_400_000
AFTER = END + 60_000
HOME = Place(51.5, -0.12, 8.0)
LONDON = ZoneInfo("Europe/London")


def _visit(**changes: object) -> VisitFacts:
    values: dict[str, object] = {
        "visit_id": "v1",
        "branch_id": "b1",
        "branch_name": "North",
        "client_id": "c1",
        "client_name": "Mrs Patel",
        "client_address": "1 High Street",
        "starts_at": START,
        "ends_at": END,
        "status": "scheduled",
        "updated_at": CREATED,
        "services": ["Medication", "Lunch"],
        "assigned": {"amara": True},
        "carer_names": {"amara": "Amara", "ben": "Ben"},
    }
    values.update(changes)
    return VisitFacts(**values)  # type: ignore[arg-type]


def _in(at: int = START + 60_000, place: Place | None = HOME, carer: str = "amara", **kw: object) -> Capture:
    return Capture(carer, at, kw.get("received_at", at + 1_000), place, kw.get("conflict"))  # type: ignore[arg-type]


def _rows(visit: VisitFacts, now: int = AFTER) -> list[VerificationRow]:
    return rows_of(visit, now, 900_000, LONDON)


def test_a_visit_checked_in_and_out_with_locations_has_the_six_elements_and_no_exception() -> None:
    (row,) = _rows(_visit(check_ins=[_in()], check_outs=[_in(END - 60_000)], care_by_carer={"amara": 2}))
    assert row.exceptions == []
    assert (row.services, row.client_name, row.carer_name, row.visit_type) == (
        ["Medication", "Lunch"], "Mrs Patel", "Amara", "single",
    )  # fmt: skip
    assert row.date.isoformat() == "2027-01-15"
    assert (row.check_in_lat, row.check_in_lon, row.check_in_accuracy_m) == (51.5, -0.12, 8.0)
    assert row.duration_minutes == 43
    assert row.visit_status == "completed"


def test_no_check_in_by_the_end_is_missing_and_before_the_end_is_not_yet() -> None:
    assert _rows(_visit())[0].exceptions == [E.MISSING_CHECK_IN]
    assert _rows(_visit(), now=END - 1)[0].exceptions == []
    assert _rows(_visit(), now=END - 1)[0].visit_status == "late"


def test_a_check_out_without_a_check_in_is_missing_its_check_in_at_once() -> None:
    row = _rows(_visit(check_outs=[_in(START + 600_000)], care_by_carer={"amara": 1}), now=START + 700_000)[0]
    assert row.exceptions == [E.MISSING_CHECK_IN]


def test_checked_in_and_never_out_is_missing_its_check_out_once_ended() -> None:
    visit = _visit(check_ins=[_in()], care_by_carer={"amara": 1})
    assert _rows(visit)[0].exceptions == [E.MISSING_CHECK_OUT]
    assert _rows(visit, now=END - 1)[0].exceptions == []
    assert _rows(visit, now=END - 1)[0].visit_status == "in_progress"


def test_a_check_in_or_out_without_a_location_is_named() -> None:
    visit = _visit(check_ins=[_in(place=None)], check_outs=[_in(END - 1, place=None)], care_by_carer={"amara": 2})
    row = _rows(visit)[0]
    assert row.exceptions == [E.NO_LOCATION_AT_CHECK_IN, E.NO_LOCATION_AT_CHECK_OUT]
    assert row.check_in_lat is None and row.check_in_at is not None


def test_a_check_out_captured_before_the_check_in_has_no_duration() -> None:
    row = _rows(_visit(check_ins=[_in(START + 600_000)], check_outs=[_in(START + 60_000)]))[0]
    assert row.exceptions == [E.CHECK_OUT_BEFORE_CHECK_IN]
    assert row.duration_minutes is None


def test_repeated_check_ins_and_outs_are_named_and_the_first_is_used() -> None:
    visit = _visit(check_ins=[_in(START + 120_000), _in(START + 60_000)], check_outs=[_in(END), _in(END - 60_000)])
    row = _rows(visit)[0]
    assert row.exceptions == [E.REPEATED_CHECK_IN, E.REPEATED_CHECK_OUT]
    assert row.check_in_at is not None and int(row.check_in_at.timestamp() * 1000) == START + 60_000
    assert row.check_out_at is not None and int(row.check_out_at.timestamp() * 1000) == END - 60_000


def test_a_time_captured_after_the_server_received_it_means_a_clock_ahead() -> None:
    late_clock = _in(START + 60_000, received_at=START + 60_000 - 5 * 60_000 - 1)
    on_time = _in(END - 60_000, received_at=END - 60_000 - 5 * 60_000)  # at the tolerance: trusted
    assert _rows(_visit(check_ins=[late_clock], check_outs=[_in(END)]))[0].exceptions == [E.DEVICE_CLOCK_AHEAD]
    assert _rows(_visit(check_ins=[_in()], check_outs=[on_time]))[0].exceptions == []


def test_care_at_a_cancelled_visit_is_named_and_a_cancelled_visit_misses_nothing() -> None:
    cancelled = _visit(status="cancelled", check_ins=[_in()], care_by_carer={"amara": 1})
    assert _rows(cancelled)[0].exceptions == [E.CANCELLED_WITH_CARE]
    assert _rows(cancelled)[0].visit_status == "cancelled"
    assert _rows(_visit(status="cancelled"))[0].exceptions == []


def test_care_recorded_after_the_visit_was_taken_from_the_carer_is_named_on_their_row() -> None:
    visit = _visit(
        assigned={"amara": False, "ben": True},
        check_ins=[_in(conflict="visit_reassigned")],
        check_outs=[_in(END - 60_000, conflict="visit_reassigned")],
        care_by_carer={"amara": 2},
        conflicts_by_carer={"amara": {"visit_reassigned"}},
    )
    amara, ben = _rows(visit)
    assert (amara.carer_name, amara.carer_assigned, amara.exceptions) == (
        "Amara",
        False,
        [E.RECORDED_AFTER_REASSIGNMENT],
    )
    assert (ben.carer_name, ben.carer_assigned, ben.exceptions) == ("Ben", True, [E.MISSING_CHECK_IN])
    assert amara.visit_type == ben.visit_type == "single"


def test_an_office_change_at_or_after_the_start_is_named_on_every_row() -> None:
    visit = _visit(assigned={"amara": True, "ben": True}, updated_at=START, check_ins=[_in(), _in(carer="ben")])
    rows = _rows(visit, now=START + 120_000)
    assert [r.exceptions for r in rows] == [[E.OFFICE_CHANGED_AFTER_START]] * 2
    assert [r.visit_type for r in rows] == ["double_up"] * 2
    assert _rows(_visit(updated_at=START - 1), now=START)[0].exceptions == []


def test_a_visit_without_carers_has_one_row_naming_it() -> None:
    (row,) = _rows(_visit(assigned={}))
    assert (row.carer_id, row.visit_type, row.exceptions) == (None, "unassigned", [E.NO_CARER])
