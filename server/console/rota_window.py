"""Which days the rota page shows (a week from Monday, or one day), and reading the
24-hour times and dates typed into its forms in the tenant's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.services.errors import InvalidInput

_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class RotaWindow:
    view: str
    """``week`` (Monday to Sunday) or ``day``."""
    first: date
    zone: ZoneInfo

    @property
    def days(self) -> int:
        return 7 if self.view == "week" else 1

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    @property
    def previous(self) -> date:
        return self.first - timedelta(days=self.days)

    @property
    def next(self) -> date:
        return self.first + timedelta(days=self.days)

    def since(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone)

    def until(self) -> datetime:
        return datetime.combine(self.next, time(0), tzinfo=self.zone)


def parse_date(value: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(f"Give the {field} as YYYY-MM-DD (e.g. 2026-12-07), not {value.strip()[:20]!r}.") from exc


def window_for(view: str | None, day: str | None, today: date, zone: ZoneInfo) -> RotaWindow:
    """The window asked for: ``view`` week (default) or day, around ``day`` (default today)."""
    chosen = parse_date(day) if day else today
    if view in (None, "", "week"):
        return RotaWindow("week", chosen - timedelta(days=chosen.weekday()), zone)
    if view == "day":
        return RotaWindow("day", chosen, zone)
    raise InvalidInput("The view is week or day.")


def local_moment(day: str, hhmm: str, zone: ZoneInfo, field: str = "start") -> datetime:
    """``day`` (YYYY-MM-DD) at ``hhmm`` (24-hour HH:MM) in ``zone``, as an aware datetime."""
    matched = _HHMM.fullmatch(hhmm.strip())
    if matched is None:
        raise InvalidInput(f"Give the {field} time as 24-hour HH:MM, e.g. 08:00 or 17:30.")
    return datetime.combine(parse_date(day), time(int(matched[1]), int(matched[2])), tzinfo=zone)
