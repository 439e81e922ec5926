"""Property-based fuzzing of office input over REST, on both stores.

Whatever the office sends (times of any year from 1 to 9999 with any offset, NUL and
other control characters in ids, names, notes and query parameters, unknown time zones),
the answer is JSON with a documented status and code, never a 500, and the server logs
no traceback. A visit time is accepted exactly when it lies in the documented range
(docs/security.md, "Office input"), and an accepted time round-trips to the millisecond.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.seeding import SeededAgency
from server.services.office_input import EARLIEST_TIME, LATEST_TIME
from tests import backing
from tests.e2e.test_fuzz_input import _served, _ServedInAThread

CODES = {
    400: {"bad_request"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    409: {"conflict"},
    410: {"gone"},
    413: {"frame_too_large"},
    422: {"invalid_input", "invalid_frame", "malformed_frame"},
}
"""Every status and code office input may be answered with, besides success."""

WEIRD_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\x01", "\x1f", "\x7f", "\x85", "\n", "", " ", "é✓", "../x", "%00"]),
    st.text(max_size=20),
)
"""Text for ids, names, filters and zones: control characters, NUL above all."""

OFFSETS = st.one_of(st.sampled_from([-1439, -1, 0, 1, 1439]), st.integers(-1439, 1439))
"""Offsets in minutes, the extremes (±23:59) first."""


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """Any wall time of years 1 to 9999 with any whole-minute offset, often near the edges."""
    wall = draw(
        st.one_of(
            st.sampled_from(
                [
                    datetime(1, 1, 1),
                    datetime(9999, 12, 31, 23, 59, 59, 999999),
                    datetime(1999, 12, 31, 23, 59, 59, 999999),
                    datetime(2000, 1, 1),
                    datetime(2199, 12, 31, 23, 59, 59, 999000),
                    datetime(2200, 1, 1),
                ]
            ),
            st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
            st.datetimes(min_value=datetime(1998, 1, 1), max_value=datetime(2202, 1, 1)),
        )
    )
    return wall.replace(tzinfo=timezone(timedelta(minutes=draw(OFFSETS))))


def _segment(text: str) -> str:
    return quote(text, safe="") or "%20"


def _in_range(moment: datetime) -> bool:
    return EARLIEST_TIME <= moment < LATEST_TIME


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _check(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith(("application/json", "text/csv")), (what, answer.headers)
    if answer.status_code >= 400:
        code = answer.json()["error"]["code"]
        assert code in CODES.get(answer.status_code, set()), (what, answer.status_code, answer.text[:300])


async def _times(http: httpx.AsyncClient, agency: SeededAgency, starts: datetime, length: timedelta) -> None:
    """Create and move a visit: accepted exactly in the range, and then round-tripped."""
    try:
        ends = starts + length
    except OverflowError:  # past year 9999 on the wall clock
        ends = starts
    body = {"starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
    created = await http.post("/api/v1/visits", json={"client_id": agency.client_ids[0], **body})
    _check(created, f"create {body}")
    valid = _in_range(starts) and _in_range(ends) and _ms(ends) > _ms(starts)
    assert (created.status_code == 201) == valid, (body, created.status_code, created.text)
    if created.status_code != 201:
        assert created.json()["error"]["code"] == "invalid_input", created.text
        return
    view = created.json()
    assert (_ms(datetime.fromisoformat(view["starts_at"])), _ms(datetime.fromisoformat(view["ends_at"]))) == (
        _ms(starts),
        _ms(ends),
    )
    moved = await http.post(f"/api/v1/visits/{view['id']}/reschedule", json=body)
    _check(moved, f"reschedule {body}")
    assert moved.status_code == 200 and moved.json()["starts_at"] == view["starts_at"], moved.text
    listed = await http.get(
        f"/api/v1/branches/{agency.branch_id}/visits",
        params={
            "from": view["starts_at"],
            "to": (datetime.fromisoformat(view["starts_at"]) + timedelta(days=1)).isoformat(),
        },
    )
    _check(listed, "list")


async def _texts(http: httpx.AsyncClient, agency: SeededAgency, text: str, moment: datetime) -> None:
    """The same weird text as every id, name, filter and zone the office API takes."""
    visit = agency.carers[0].visit_ids[0]
    segment = _segment(text)
    when = {"starts_at": moment.isoformat(), "ends_at": moment.isoformat()}
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("GET", f"/api/v1/visits/{segment}", None, None),
        ("PATCH", f"/api/v1/visits/{segment}", {"notes": text}, None),
        ("PATCH", f"/api/v1/visits/{visit}", {"notes": text}, None),
        ("POST", f"/api/v1/visits/{segment}/reschedule", when, None),
        ("POST", f"/api/v1/visits/{segment}/reassign", {"carer_ids": [text]}, None),
        ("POST", f"/api/v1/visits/{visit}/reassign", {"carer_ids": [text]}, None),
        ("POST", f"/api/v1/visits/{visit}/tasks", {"title": text}, None),
        ("PATCH", f"/api/v1/visits/{visit}/tasks/{segment}", {"title": "x"}, None),
        ("POST", "/api/v1/visits", {"client_id": text, **when}, None),
        ("GET", f"/api/v1/branches/{segment}/visits", None, None),
        ("GET", f"/api/v1/carers/{segment}/visits", None, {"from": text}),
        ("POST", "/api/v1/branches", {"name": text}, None),
        ("POST", "/api/v1/users", {"name": text, "role": "carer", "branch_id": text}, None),
        ("POST", "/api/v1/clients", {"name": text, "branch_id": agency.branch_id, "address": text}, None),
        ("GET", f"/api/v1/users/{segment}/tokens", None, None),
        ("DELETE", f"/api/v1/users/{agency.admin.user_id}/tokens/{segment}", None, None),
        ("PATCH", "/api/v1/tenant/preferences", {"timezone": text}, None),
        ("PATCH", f"/api/v1/devices/{segment}", {"name": text}, None),
        ("POST", f"/api/v1/devices/{segment}/resync", None, None),
        ("GET", f"/api/v1/alerts/{segment}", None, None),
        ("GET", "/api/v1/alerts", None, {"carer_id": text, "branch_id": text}),
        ("GET", "/api/v1/reports/devices", None, {"branch_id": text, "user_id": text}),
        ("GET", "/api/v1/reports/devices", None, {"format": "csv", "sort": text}),
    ]
    for method, path, body, params in calls:
        answer = await http.request(method, path, json=body, params=params)
        _check(answer, f"{method} {path} {body} {params}")
        if "\x00" in text and (segment in path or (params and text in params.values())):
            assert answer.status_code == 422, (method, path, params, answer.text)
    # Whatever was accepted, the tenant's CSV report is still served.
    _check(await http.get("/api/v1/reports/devices", params={"format": "csv"}), "csv report")


def _fuzz(served: _ServedInAThread, starts: datetime, length: timedelta, text: str) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(
            base_url=served.running.base_url,
            headers={"authorization": f"Bearer {served.agency.admin_token}"},
            timeout=30,
        ) as http:
            await _times(http, served.agency, starts, length)
            await _texts(http, served.agency, text, starts)

    asyncio.run(run())


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
EXAMPLES = {
    "starts": moments(),
    "length": st.sampled_from([timedelta(minutes=30), timedelta(milliseconds=1), timedelta(0), timedelta(days=3)]),
    "text": WEIRD_TEXT,
}


def test_office_input_never_crashes_on_sqlite() -> None:
    with _served(None) as served:

        @FUZZ
        @given(**EXAMPLES)
        def fuzz(starts: datetime, length: timedelta, text: str) -> None:
            _fuzz(served, starts, length, text)

        fuzz()


def test_office_input_never_crashes_on_postgresql() -> None:
    admin = os.environ.get("CARESYNC_TEST_POSTGRES_URL")
    if not admin:
        backing.require_or_skip("set CARESYNC_TEST_POSTGRES_URL for the PostgreSQL fuzz")

    async def create() -> tuple[str, Any]:
        manager = backing.fresh_postgres_database(admin or "")
        return await manager.__aenter__(), manager

    url, manager = asyncio.run(create())
    try:
        with _served(url) as served:

            @FUZZ
            @given(**EXAMPLES)
            def fuzz(starts: datetime, length: timedelta, text: str) -> None:
                _fuzz(served, starts, length, text)

            fuzz()
    finally:
        asyncio.run(manager.__aexit__(None, None, None))
