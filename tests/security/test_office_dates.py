"""Office times: every time the REST API accepts round-trips, and a time outside the
documented range (2000-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z, with
any offset) is refused with 422 ``invalid_input``, never a 500, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.node import Node
from tests import conftest
from tests.conftest import start_server, stop_server
from tests.security.conftest import World, build_world

OUT_OF_RANGE = [
    ("9999-12-31T23:00:00-23:59", "9999-12-31T23:30:00-23:59"),  # past year 9999 in UTC
    ("0001-01-01T00:00:00+23:59", "0001-01-01T00:30:00+23:59"),  # before year 1 in UTC
    ("9999-12-31T23:00:00Z", "9999-12-31T23:30:00Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:30:00Z"),
    ("1999-12-31T23:00:00Z", "2000-01-01T00:30:00Z"),  # starts a minute too early
    ("2199-12-31T23:30:00Z", "2200-01-01T00:00:00Z"),  # ends on the bound, which is excluded
    ("2200-01-01T00:30:00+01:00", "2200-01-01T01:30:00+01:00"),  # ends after the bound in UTC
]
IN_RANGE = [
    ("2000-01-01T00:00:00Z", "2000-01-01T00:30:00Z"),
    ("2000-01-01T23:59:00+23:59", "2000-01-02T00:30:00+23:59"),  # 2000-01-01T00:00Z
    ("2199-12-31T00:00:00-23:59", "2199-12-31T00:00:59.999-23:59"),  # up to 2199-12-31T23:59:59.999Z
    ("2026-03-29T01:30:00.123456+01:00", "2026-03-29T02:30:00.5+01:00"),
]


@pytest.fixture
async def served_world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    running = await start_server(Node.build(conftest.test_settings(tmp_path, database_url=database_url)))
    try:
        yield await build_world(running)
    finally:
        await stop_server(running)


def _utc_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _MS


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


async def test_times_out_of_range_are_refused_when_creating_and_moving_visits(served_world: World) -> None:
    world = served_world
    async with world.running.http(world.agency.admin_token) as http:
        for starts, ends in OUT_OF_RANGE:
            body = {"client_id": world.a.client_id, "starts_at": starts, "ends_at": ends}
            created = await http.post("/api/v1/visits", json=body)
            assert created.status_code == 422, (starts, created.status_code, created.text)
            assert created.json()["error"]["code"] == "invalid_input", created.text
            assert "2000-01-01T00:00:00.000Z" in created.json()["error"]["message"], created.text
            moved = await http.post(
                f"/api/v1/visits/{world.a.visit_id}/reschedule", json={"starts_at": starts, "ends_at": ends}
            )
            assert moved.status_code == 422, (starts, moved.status_code, moved.text)
            assert moved.json()["error"]["code"] == "invalid_input", moved.text
        # Nothing was stored: the visit keeps its time and its version.
        before = (await http.get(f"/api/v1/visits/{world.a.visit_id}")).json()
        assert before["version"] == 2


async def test_times_in_range_round_trip_with_any_offset(served_world: World) -> None:
    world = served_world
    async with world.running.http(world.agency.admin_token) as http:
        for starts, ends in IN_RANGE:
            body = {"client_id": world.a.client_id, "starts_at": starts, "ends_at": ends}
            created = await http.post("/api/v1/visits", json=body)
            assert created.status_code == 201, (starts, created.text)
            view = created.json()
            assert (_utc_ms(view["starts_at"]), _utc_ms(view["ends_at"])) == (_utc_ms(starts), _utc_ms(ends))
            fetched = (await http.get(f"/api/v1/visits/{view['id']}")).json()
            assert (fetched["starts_at"], fetched["ends_at"]) == (view["starts_at"], view["ends_at"])
            moved = await http.post(
                f"/api/v1/visits/{view['id']}/reschedule", json={"starts_at": starts, "ends_at": ends}
            )
            assert moved.status_code == 200, (starts, moved.text)
            assert moved.json()["starts_at"] == view["starts_at"]


async def test_visit_list_windows_use_the_same_range(served_world: World) -> None:
    world = served_world
    async with world.running.http(world.agency.admin_token) as http:
        for bad in ("9999-12-31T23:00:00-23:59", "0001-01-01T00:00:00+23:59", "1999-12-31T23:59:59Z"):
            answer = await http.get(f"/api/v1/branches/{world.a.id}/visits", params={"from": bad})
            assert answer.status_code == 422, (bad, answer.text)
            assert answer.json()["error"]["code"] == "invalid_input"
        fine = await http.get(f"/api/v1/branches/{world.a.id}/visits", params={"from": "2000-01-01T23:59:00+23:59"})
        assert fine.status_code == 200, fine.text
