"""The export on each store: rows built from what devices uploaded and what the office
did, the date range in the tenant's time zone, branch scoping, and paging."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from protocol.frames import CheckIn, CheckOut, Location, SyncRequest
from server.clock import ManualClock, to_datetime, to_ms
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.errors import Forbidden, NotFound, ServiceError
from server.services.identity import Staff
from server.services.rota import NewTask
from server.services.visit_verification.export import ExportQuery, VisitVerification, checked_query
from server.services.visit_verification.reading import Window, visit_pages
from server.services.visit_verification.rows import VerificationRow
from server.store.schema import tenants
from tests.server.services.carer_seen import identity

HOME = Location(lat=51.5072, lon=-0.1276, accuracy_m=12.0)


class Phones:
    """Each seeded carer's phone uploading check-ins and check-outs through a standard sync,
    each as soon as it is captured (the clock moves on to its capture time)."""

    def __init__(self, node: Node, agency: SeededAgency) -> None:
        self.node, self.agency = node, agency
        self.ids = count(1)

    async def record(
        self, carer: int, kind: type[CheckIn | CheckOut], visit_id: str, at: datetime, place: Location | None = HOME
    ) -> str:
        clock = _clock(self.node)
        clock.advance(max(0, to_ms(at) - clock.now_ms()) / 1000)  # uploaded as soon as captured
        mutation = kind(
            mutation_id=next(self.ids), carer_id=self.agency.carers[carer].id, visit_id=visit_id, captured_at=at,
            location=place,
        )  # fmt: skip
        request = SyncRequest(request_id=f"r{mutation.mutation_id}", mutations=[mutation])
        answer = await self.node.sync.standard_sync(identity(self.agency, carer), request)
        return answer.results[0].status


def _clock(node: Node) -> ManualClock:
    assert isinstance(node.clock, ManualClock)
    return node.clock


async def _rows(node: Node, staff: Staff, query: ExportQuery) -> list[VerificationRow]:
    export = await VisitVerification(node.db, node.clock).export(staff, query)
    return [row async for page in export.pages for row in page]


async def test_rows_show_what_phones_recorded_and_what_the_office_did(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=3, visits_per_carer=0)
    amara, ben, chloe = (c.id for c in agency.carers)
    now = to_datetime(node.clock.now_ms()).replace(second=0, microsecond=0)
    start = now + timedelta(hours=1)

    async def visit(carers: list[str], hours: float = 0, tasks: tuple[str, ...] = ("Medication",)) -> str:
        at = start + timedelta(hours=hours)
        view = await node.rota.create_visit(
            agency.admin, client_id=agency.client_ids[0], starts_at=at, ends_at=at + timedelta(minutes=45),
            carer_ids=carers, tasks_=[NewTask(t) for t in tasks],
        )  # fmt: skip
        return view.id

    done = await visit([amara], tasks=("Medication", "Lunch"))
    no_out = await visit([amara], 1)
    nobody_came = await visit([ben])
    double = await visit([amara, ben], 2)
    cancelled = await visit([ben], 3)
    taken = await visit([amara], 4)
    moved = await visit([chloe], 5)
    unstaffed = await visit([], 6)
    later = await visit([chloe], 24 * 5)  # outside the range
    phones = Phones(node, agency)

    await node.rota.reassign(agency.admin, taken, [chloe])  # before it starts: no office change after start
    at = start + timedelta(minutes=1)  # one minute into the first visits
    assert await phones.record(0, CheckIn, done, at) == "applied"
    assert await phones.record(0, CheckOut, done, at + timedelta(minutes=40)) == "applied"
    assert await phones.record(0, CheckIn, no_out, at + timedelta(hours=1), place=None) == "applied"
    await phones.record(0, CheckIn, double, at + timedelta(hours=2))
    await phones.record(1, CheckIn, double, at + timedelta(hours=2, minutes=1))
    await phones.record(0, CheckOut, double, at + timedelta(hours=2, minutes=30))
    await phones.record(1, CheckIn, cancelled, at + timedelta(hours=3))
    await node.rota.cancel(agency.admin, cancelled)
    assert await phones.record(0, CheckIn, taken, at + timedelta(hours=4)) == "applied_with_conflict"
    _clock(node).advance(3600)  # the office corrects a visit's times once it is under way
    await node.rota.reschedule(
        agency.admin, moved, start + timedelta(hours=4, minutes=30), start + timedelta(hours=5, minutes=15)
    )
    _clock(node).advance(6 * 3600)  # every visit but the later one has ended

    first_day = start.date()
    rows = await _rows(node, agency.admin, ExportQuery(first_day, first_day + timedelta(days=1)))
    by = {(r.visit_id, r.carer_id): r for r in rows}
    assert later not in {r.visit_id for r in rows}
    order = [(r.scheduled_start, r.visit_id) for r in rows]
    assert order == sorted(order), "in scheduled order"

    row = by[(done, amara)]
    assert row.exceptions == []
    assert (row.services, row.client_id, row.carer_name, row.date) == (
        ["Medication", "Lunch"], agency.client_ids[0], agency.carers[0].name, first_day,
    )  # fmt: skip
    assert (row.check_in_lat, row.check_in_lon, row.check_in_accuracy_m) == (51.5072, -0.1276, 12.0)
    assert row.check_in_at == at and row.check_out_at == at + timedelta(minutes=40)
    assert row.check_in_received_at is not None and to_ms(row.check_in_received_at) >= to_ms(at)
    assert (row.duration_minutes, row.visit_status) == (40, "completed")
    assert by[(no_out, amara)].exceptions == ["missing_check_out", "no_location_at_check_in"]
    assert by[(nobody_came, ben)].exceptions == ["missing_check_in"]
    assert by[(nobody_came, ben)].visit_status == "missed"
    assert by[(double, amara)].exceptions == [] and by[(double, amara)].visit_type == "double_up"
    assert by[(double, ben)].exceptions == ["missing_check_out"]
    assert by[(cancelled, ben)].exceptions == ["cancelled_with_care", "office_changed_after_start"]
    assert by[(taken, amara)].exceptions == ["missing_check_out", "recorded_after_reassignment"]
    assert by[(taken, amara)].carer_assigned is False
    assert by[(taken, chloe)].exceptions == ["missing_check_in"]
    assert by[(moved, chloe)].exceptions == ["missing_check_in", "office_changed_after_start"]
    assert by[(unstaffed, None)].exceptions == ["no_carer"]


async def test_the_range_is_dates_in_the_tenant_time_zone(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=0)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(timezone="Pacific/Auckland"))
    base = to_datetime(node.clock.now_ms()).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)
    # 11:30 UTC is 00:30 the next day in Auckland (UTC+13 in December, +12 in winter)
    at = base + timedelta(hours=11, minutes=30)
    view = await node.rota.create_visit(
        agency.admin, client_id=agency.client_ids[0], starts_at=at, ends_at=at + timedelta(minutes=30),
        carer_ids=[agency.carers[0].id], tasks_=[],
    )  # fmt: skip
    local_day = at.astimezone(ZoneInfo("Pacific/Auckland")).date()
    assert local_day == base.date() + timedelta(days=1)
    on_its_day = await _rows(node, agency.admin, ExportQuery(local_day, local_day))
    assert [(r.visit_id, r.date) for r in on_its_day] == [(view.id, local_day)]
    assert await _rows(node, agency.admin, ExportQuery(base.date(), base.date())) == []


async def test_a_coordinator_exports_their_branch_only(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=2)
    south = await node.directory.create_branch(agency.tenant_id, "South")
    north_lead = Staff(user_id="n", tenant_id=agency.tenant_id, role="coordinator", branch_id=agency.branch_id)
    south_lead = Staff(user_id="s", tenant_id=agency.tenant_id, role="coordinator", branch_id=south)
    today = to_datetime(node.clock.now_ms()).date()
    query = ExportQuery(today - timedelta(days=1), today + timedelta(days=1))
    assert len(await _rows(node, north_lead, query)) == 2
    assert await _rows(node, south_lead, query) == [], "their own branch, which has no visits"
    with pytest.raises(Forbidden):
        await _rows(node, south_lead, ExportQuery(query.first_day, query.last_day, agency.branch_id))
    with pytest.raises(NotFound):
        await _rows(node, agency.admin, ExportQuery(query.first_day, query.last_day, "no-such-branch"))
    other = await seed_agency(node, name="Elsewhere", carers=1, visits_per_carer=1)
    with pytest.raises(Forbidden):
        await _rows(node, north_lead, ExportQuery(query.first_day, query.last_day, other.branch_id))
    admin_rows = await _rows(node, agency.admin, query)
    assert {r.branch_id for r in admin_rows} == {agency.branch_id}, "never another tenant's visits"


async def test_pages_follow_start_then_id_never_split_a_moment_and_miss_nothing(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=0)
    at = to_datetime(node.clock.now_ms()) + timedelta(hours=2)
    made = []
    for minutes in (0, 0, 0, 30, 30, 60, 90):  # equal starts straddle the page boundaries
        starts = at + timedelta(minutes=minutes)
        view = await node.rota.create_visit(
            agency.admin, client_id=agency.client_ids[0], starts_at=starts, ends_at=starts + timedelta(minutes=20),
            carer_ids=[agency.carers[0].id], tasks_=[],
        )  # fmt: skip
        made.append((to_ms(starts), view.id))
    window = Window(agency.tenant_id, agency.branch_id, to_ms(at), to_ms(at + timedelta(hours=2)))
    pages = [[(v.starts_at, v.visit_id) for v in page] async for page in visit_pages(node.db, window, 2)]
    assert [len(p) for p in pages] == [3, 2, 2], "the three at the first moment read whole into the first page"
    assert [v for p in pages for v in p] == sorted(made)


@pytest.mark.parametrize(
    ("first", "last", "status", "words"),
    [
        ("2026-12-01", "2027-03-03", 400, "at most 92 days"),
        ("2026-12-07", "2026-12-06", 400, "before from"),
        ("2026-12-07", None, 422, "to is required"),
        ("07/12/2026", "2026-12-08", 422, "from must be a date"),
        ("2026-12-7", "2026-12-08", 422, "from must be a date"),
        ("1999-12-31", "2000-01-01", 422, "from 2000 to 2199"),
    ],
)
def test_a_range_that_cannot_be_exported_is_refused_saying_why(
    first: str, last: str | None, status: int, words: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        checked_query(first, last, None)
    assert (refused.value.status, words in refused.value.message) == (status, True), refused.value.message


def test_92_days_both_included_is_the_longest_range() -> None:
    query = checked_query("2026-12-01", "2027-03-02", None)
    assert (query.last_day - query.first_day).days + 1 == 92
    assert checked_query("2026-12-07", "2026-12-07", "b1") == ExportQuery(date(2026, 12, 7), date(2026, 12, 7), "b1")
