"""REST input: authentication before any body is looked at, nesting too deep to decode,
and visit lists bounded in time and paged."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from protocol.frames import Error
from server.app import create_app
from server.node import Node
from tests import conftest
from tests.conftest import RunningServer
from tests.security.conftest import World
from tests.support import RawDevice

PUBLIC = {"/api/v1/auth/sign-in", "/api/v1/device/enrol"}
"""REST routes that take a body without a token."""


def body_routes() -> list[tuple[str, str]]:
    """Every REST route that reads a body, from the app itself (new routes are covered)."""
    app = create_app(Node.build(conftest.test_settings(Path("/nonexistent"))))
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/") and route.methods:
            for method in sorted(route.methods & {"POST", "PUT", "PATCH"}):
                found.append((method, route.path.replace("{", "").replace("}", "")))
    assert len(found) > 20
    return found


@pytest.mark.parametrize(("method", "path"), body_routes())
async def test_authentication_comes_before_the_body(running: RunningServer, method: str, path: str) -> None:
    async with running.http() as http:
        answer = await http.request(method, path, content=b'{"not": json', headers={"content-type": "application/json"})
    expected = 422 if path in PUBLIC else 401
    assert answer.status_code == expected, answer.text


async def test_deeply_nested_json_is_a_clean_4xx(world: World) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    async with world.running.http(world.agency.admin_token) as http:
        for path in ("/api/v1/branches", "/api/v1/auth/sign-in", f"/api/v1/visits/{world.a.visit_id}/reassign"):
            answer = await http.post(path, content=nested.encode(), headers={"content-type": "application/json"})
            assert 400 <= answer.status_code < 500, (path, answer.status_code)
            assert answer.json()["error"]["code"]
    raw = await RawDevice.connect(world.running)
    try:
        await raw.send_text(nested)
        frame = await raw.receive_until(Error)
        assert isinstance(frame, Error)
    finally:
        await raw.close()


async def test_visit_lists_are_bounded_and_paged(world: World) -> None:
    base = f"/api/v1/branches/{world.a.id}/visits"
    async with world.running.http(world.agency.admin_token) as http:
        for params in (
            {"from": "2026-01-01T00:00:00+00:00", "to": "2027-01-01T00:00:00+00:00"},  # a year
            {"from": "0001-01-01T00:00:00+00:00"},
            {"from": "9999-12-31T00:00:00+00:00"},
            {"from": "2026-02-01T00:00:00+00:00", "to": "2026-01-01T00:00:00+00:00"},
            {"page_size": "100000"},
            {"page": "0"},
        ):
            answer = await http.get(base, params=params)
            assert answer.status_code == 422, (params, answer.text)
            answer = await http.get(f"/api/v1/carers/{world.a.carer_id}/visits", params=params)
            assert answer.status_code == 422, (params, answer.text)
        first = (await http.get(base, params={"page_size": "1"})).json()
        assert len(first["visits"]) == 1 and first["next_page"] == 2
        second = (await http.get(base, params={"page_size": "1", "page": "2"})).json()
        assert second["visits"][0]["id"] != first["visits"][0]["id"]
