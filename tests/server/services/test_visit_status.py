"""A visit's status from its check-in and check-out, with the tenant's grace."""

from __future__ import annotations

import pytest

from server.services.visit_status import Recorded, VisitState, state_of

START, END, GRACE = 10_000_000, 12_700_000, 900_000


@pytest.mark.parametrize(
    ("status", "recorded", "now", "expected"),
    [
        ("scheduled", Recorded(), START - 1, "scheduled"),
        ("scheduled", Recorded(), START + GRACE - 1, "scheduled"),
        ("scheduled", Recorded(), START + GRACE, "late"),
        ("scheduled", Recorded(), END, "missed"),
        ("scheduled", Recorded(checked_in_at=START + 60_000), END + 1, "in_progress"),
        ("scheduled", Recorded(checked_in_at=START, checked_out_at=END), END + 1, "completed"),
        ("scheduled", Recorded(checked_out_at=END), END + 1, "completed"),
        ("cancelled", Recorded(checked_in_at=START), END + 1, "cancelled"),
    ],
)
def test_state_of(status: str, recorded: Recorded, now: int, expected: VisitState) -> None:
    assert state_of(status, START, END, recorded, now, GRACE) == expected
