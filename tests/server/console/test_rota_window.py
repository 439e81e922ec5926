"""The rota page's window (a week from Monday, or a day) and its 24-hour times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.console.rota_window import local_moment, window_for
from server.services.errors import InvalidInput

LONDON = ZoneInfo("Europe/London")


def test_a_week_runs_monday_to_sunday_around_the_date_asked() -> None:
    window = window_for(None, "2026-12-10", date(2026, 1, 1), LONDON)
    assert window.view == "week" and window.first == date(2026, 12, 7)
    assert window.dates[-1] == date(2026, 12, 13)
    assert (window.previous, window.next) == (date(2026, 11, 30), date(2026, 12, 14))
    assert window.since() == datetime(2026, 12, 7, tzinfo=LONDON)


def test_a_day_and_today_by_default() -> None:
    window = window_for("day", None, date(2026, 3, 29), LONDON)
    assert window.dates == [date(2026, 3, 29)]
    length = window.until().astimezone(UTC) - window.since().astimezone(UTC)
    assert length.total_seconds() == 23 * 3600  # the clocks go forward that night


def test_times_are_24_hour_in_the_tenants_zone() -> None:
    moment = local_moment("2026-07-01", "17:30", LONDON)
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    assert (moment.hour, moment.minute) == (17, 30)
    assert local_moment("2026-07-01", "8:05", LONDON).hour == 8


@pytest.mark.parametrize("bad", ["25:00", "08:60", "8 am", "", "08:00 PM"])
def test_a_bad_time_says_how_to_write_it(bad: str) -> None:
    with pytest.raises(InvalidInput, match="24-hour HH:MM"):
        local_moment("2026-07-01", bad, LONDON)


def test_a_bad_date_or_view_is_refused() -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        window_for("week", "07/12/2026", date(2026, 1, 1), LONDON)
    with pytest.raises(InvalidInput, match="week or day"):
        window_for("month", None, date(2026, 1, 1), LONDON)
