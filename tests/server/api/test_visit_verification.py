"""``GET /api/v1/reports/visit-verification`` on each store: staff only, tenant and branch
scoped, ranges refused saying why, CSV that runs no formula, JSON in the documented shape,
streamed across pages."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from protocol.time_text import TIME_TEXT
from server.node import Node
from server.openapi.shapes import VisitVerificationExport
from server.seeding import SeededAgency, seed_agency
from server.services.rota import NewTask
from server.services.spreadsheet import FORMULA_STARTS
from server.services.visit_verification import export as export_module
from tests import conftest
from tests.conftest import RunningServer, start_server, stop_server

PATH = "/api/v1/reports/visit-verification"
HOSTILE = '=HYPERLINK("http://x.example")'


@dataclass
class Office:
    running: RunningServer
    agency: SeededAgency
    south: str
    south_visit: str
    coordinator_token: str
    other: SeededAgency
    day: str

    def params(self, **changes: str) -> dict[str, str]:
        return {"from": self.day, "to": self.day, **changes}


@pytest.fixture
async def office(tmp_path: Path, database_url: str) -> AsyncIterator[Office]:
    running = await start_server(Node.build(conftest.test_settings(tmp_path, database_url=database_url)))
    node = running.node
    day = datetime.now(UTC) + timedelta(days=2)
    agency = await seed_agency(node, carers=2, clients=2, visits_per_carer=2, day=day)
    other = await seed_agency(node, name="Other Agency", carers=1, visits_per_carer=1, day=day)
    south = await node.directory.create_branch(agency.tenant_id, "South")
    client = await node.directory.create_client(agency.tenant_id, south, "Mr South", "9 South Road")
    carer = await node.directory.create_user(agency.tenant_id, south, "Sam South", "carer")
    at = day.replace(hour=12, minute=0, second=0, microsecond=0)
    visit = await node.rota.create_visit(
        agency.admin, client_id=client, starts_at=at, ends_at=at + timedelta(minutes=30), carer_ids=[carer],
        tasks_=[NewTask("Lunch")],
    )  # fmt: skip
    lead = await node.directory.create_user(agency.tenant_id, agency.branch_id, "Cora", "coordinator")
    token = await node.directory.issue_staff_token(agency.tenant_id, lead)
    yield Office(running, agency, south, visit.id, token, other, day.date().isoformat())
    await stop_server(running)


async def _get(office: Office, token: str | None, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    async with office.running.http(token) as http:
        answer = await http.get(PATH, params=params)
    return answer.status_code, answer.content, dict(answer.headers)


async def test_only_office_staff_export(office: Office) -> None:
    assert (await _get(office, None, office.params()))[0] == 401
    assert (await _get(office, office.agency.carers[0].device_token, office.params()))[0] == 401
    status, _body, headers = await _get(office, office.agency.admin_token, office.params())
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert (
        f'filename="visit-verification-all-branches-{office.day}-to-{office.day}.json"'
        in headers["content-disposition"]
    )


async def test_json_has_the_documented_shape_and_the_one_time_form(office: Office) -> None:
    status, body, _headers = await _get(office, office.agency.admin_token, office.params())
    assert status == 200, body
    export = msgspec.json.decode(body, type=VisitVerificationExport)
    assert (export.timezone, export.from_.isoformat(), export.branch_id) == ("Europe/London", office.day, None)
    assert len(export.visits) == 5, "four in North, one in South, none of the other agency"
    assert {v.branch_id for v in export.visits} == {office.agency.branch_id, office.south}
    raw = msgspec.json.decode(body)
    assert TIME_TEXT.fullmatch(raw["visits"][0]["scheduled_start"])
    assert raw["visits"][0]["exceptions"] == []


async def test_pages_are_joined_into_one_document(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "PAGE", 2)
    _status, body, _h = await _get(office, office.agency.admin_token, office.params())
    assert len(msgspec.json.decode(body, type=VisitVerificationExport).visits) == 5
    _status, text, _h = await _get(office, office.agency.admin_token, office.params(format="csv"))
    assert len(list(csv.DictReader(io.StringIO(text.decode(), newline="")))) == 5


async def test_a_coordinator_exports_their_branch_and_no_other(office: Office) -> None:
    status, body, _h = await _get(office, office.coordinator_token, office.params())
    export = msgspec.json.decode(body, type=VisitVerificationExport)
    assert (status, export.branch_id) == (200, office.agency.branch_id)
    assert {v.branch_id for v in export.visits} == {office.agency.branch_id}
    status, body, _h = await _get(office, office.coordinator_token, office.params(branch_id=office.south))
    assert (status, msgspec.json.decode(body)["error"]["code"]) == (403, "forbidden")
    status, body, _h = await _get(office, office.agency.admin_token, office.params(branch_id=office.other.branch_id))
    assert (status, msgspec.json.decode(body)["error"]["code"]) == (404, "not_found"), "another tenant's branch"
    status, body, _h = await _get(office, office.agency.admin_token, office.params(branch_id=office.south))
    assert [v["visit_id"] for v in msgspec.json.decode(body)["visits"]] == [office.south_visit]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"from": "2026-01-01", "to": "2026-04-30"}, 400, "covers 120 days; an export covers at most 92 days"),
        ({"from": "2026-12-08", "to": "2026-12-07"}, 400, "before from"),
        ({"from": "2026-12-08"}, 422, "to is required"),
        ({"from": "yesterday", "to": "2026-12-07"}, 422, "from must be a date"),
        ({"from": "2026-12-07", "to": "2026-12-07", "format": "xlsx"}, 422, "format must be json or csv"),
        ({"from": "2026-12-07", "to": "2026-12-07", "page": "2"}, 422, "unknown parameter(s): page"),
    ],
)
async def test_a_range_or_parameter_that_cannot_be_served_is_refused_saying_why(
    office: Office, params: dict[str, str], status: int, words: str
) -> None:
    answer, body, headers = await _get(office, office.agency.admin_token, params)
    assert answer == status
    assert headers["content-type"] == "application/json"
    assert words in msgspec.json.decode(body)["error"]["message"]


async def test_csv_runs_no_formula_in_any_text_cell(office: Office) -> None:
    node = office.running.node
    tenant = office.agency.tenant_id
    client = await node.directory.create_client(tenant, office.agency.branch_id, HOSTILE, "@SUM(A1)")
    carer = await node.directory.create_user(tenant, office.agency.branch_id, "+1+1", "carer")
    at = datetime.fromisoformat(office.day).replace(hour=20, tzinfo=UTC)
    await node.rota.create_visit(
        office.agency.admin, client_id=client, starts_at=at, ends_at=at + timedelta(minutes=30), carer_ids=[carer],
        tasks_=[NewTask("-2+3"), NewTask("Lunch")],
    )  # fmt: skip
    status, body, headers = await _get(office, office.agency.admin_token, office.params(format="csv"))
    assert (status, headers["content-type"]) == (200, "text/csv; charset=utf-8")
    rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    hostile = next(r for r in rows if r["client_name"].lstrip("'") == HOSTILE)
    assert (hostile["client_name"], hostile["client_address"]) == ("'" + HOSTILE, "'@SUM(A1)")
    assert (hostile["carer_name"], hostile["services"]) == ("'+1+1", "'-2+3; Lunch")
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_STARTS), (column, cell)
    assert hostile["scheduled_start"].endswith("+00:00"), "tenant time (London in winter) with its offset"
