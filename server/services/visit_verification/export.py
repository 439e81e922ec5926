"""The export's query, checked, and the service that streams its rows page by page.

A query names calendar dates in the tenant's time zone, both included (``from`` and
``to``, at most ``VISIT_VERIFICATION_MAX_DAYS`` days), and a branch; it covers the
visits whose scheduled start falls on those dates. Access is the device report's: an
admin exports any branch of the tenant (or all of them), a coordinator their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select

from server.clock import Clock, to_datetime, to_ms
from server.services.errors import InvalidInput, NotFound, ServiceError
from server.services.identity import Staff
from server.services.visit_verification.reading import Window, visit_pages
from server.services.visit_verification.rows import VerificationRow, rows_of
from server.store.database import Database
from server.store.schema import branches, tenants
from server.tunables import VISIT_VERIFICATION_MAX_DAYS as MAX_DAYS
from server.tunables import VISIT_VERIFICATION_PAGE as PAGE

_FIRST_YEAR, _LAST_YEAR = 2000, 2199
"""Dates inside the times the office may give (``server.services.office_input``)."""


@dataclass(frozen=True)
class ExportQuery:
    first_day: date
    last_day: date
    branch_id: str | None = None
    """None: the coordinator's branch, or every branch for an admin."""


def checked_query(first: str | None, last: str | None, branch_id: str | None) -> ExportQuery:
    """The query from its texts: ``from`` and ``to`` as ``YYYY-MM-DD``, both required.

    A date that does not read is :class:`InvalidInput` (422); a range that is backwards or
    longer than the bound is refused as a bad request (400), saying the bound."""
    first_day = _day(first, "from")
    last_day = _day(last, "to")
    if last_day < first_day:
        raise ServiceError.about("to", f"({last_day}) is before from ({first_day})")
    days = (last_day - first_day).days + 1
    if days > MAX_DAYS:
        raise ServiceError(
            f"from..to covers {days} days; an export covers at most {MAX_DAYS} days, both dates "
            "included: export a longer period in parts"
        )
    return ExportQuery(first_day, last_day, branch_id or None)


def _day(text: str | None, name: str) -> date:
    if not text:
        raise InvalidInput.about(name, "is required: a date, YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput.about(name, f"must be a date, YYYY-MM-DD; got {text[:40]!r}") from exc
    if len(text) != 10 or not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise InvalidInput.about(name, f"must be a date, YYYY-MM-DD, from {_FIRST_YEAR} to {_LAST_YEAR}")
    return day


class ExportHeader(msgspec.Struct, kw_only=True):
    """What an export covers; the JSON export's fields before ``visits``."""

    timezone: str
    """The tenant's time zone: ``from``, ``to`` and each row's ``date`` are dates there."""
    from_: date = msgspec.field(name="from")
    to: date
    branch_id: str | None
    """The branch exported; null: every branch (an admin's export without a branch)."""
    generated_at: datetime


@dataclass
class Export:
    header: ExportHeader
    pages: AsyncIterator[list[VerificationRow]]
    """The rows, a page of visits at a time; read lazily, as the answer is written."""


class VisitVerification:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def export(self, staff: Staff, query: ExportQuery) -> Export:
        """Check access, read the first page (so a refusal or an outage is answered before
        any byte of the export is sent), and stream the rest as it is read."""
        branch_id = staff.scope_branch(query.branch_id)
        now = self.clock.now_ms()
        async with self.db.read() as conn:
            tenant = (
                await conn.execute(
                    select(tenants.c.timezone, tenants.c.late_grace_s).where(tenants.c.id == staff.tenant_id)
                )
            ).one()
            if branch_id is not None:
                known = await conn.execute(
                    select(branches.c.id).where(branches.c.id == branch_id, branches.c.tenant_id == staff.tenant_id)
                )
                if known.first() is None:
                    raise NotFound.about("branch_id", "names no branch of this tenant")
        zone = ZoneInfo(tenant.timezone)
        since = _midnight(query.first_day, zone)
        until = _midnight(query.last_day + timedelta(days=1), zone)
        window = Window(staff.tenant_id, branch_id, since, until)
        header = ExportHeader(
            timezone=tenant.timezone,
            from_=query.first_day,
            to=query.last_day,
            branch_id=branch_id,
            generated_at=to_datetime(now),
        )
        visits = visit_pages(self.db, window, PAGE)
        first = await anext(visits, None)
        grace_ms = tenant.late_grace_s * 1000

        async def pages() -> AsyncIterator[list[VerificationRow]]:
            page = first
            while page is not None:
                yield [row for visit in page for row in rows_of(visit, now, grace_ms, zone)]
                page = await anext(visits, None)

        return Export(header, pages())


def _midnight(day: date, zone: ZoneInfo) -> int:
    """The first moment of ``day`` in ``zone``, in UTC ms."""
    return to_ms(datetime.combine(day, time(0), tzinfo=zone))
