"""Path and query parameters: a NUL or any other control character in an id is refused
with 422 ``invalid_input`` on every route, on both stores, before any route sees it
(PostgreSQL cannot even compare text holding U+0000)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from server.app import create_app
from server.node import Node
from tests import conftest
from tests.conftest import start_server, stop_server
from tests.security.conftest import PASSWORD, World, build_world

CONTROL = ["\x00", "\x01", "\x1f", "\x7f", "a\x00b", "\n"]
"""A sample of control characters, alone and inside an otherwise ordinary id."""


def parameter_routes() -> list[tuple[str, str]]:
    """Every route with a path parameter, from the app itself (new routes are covered)."""
    app = create_app(Node.build(conftest.test_settings(Path("/nonexistent"))))
    found = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and "{" in route.path
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]
    assert len(found) > 20
    return found


@pytest.fixture
async def served_world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    running = await start_server(Node.build(conftest.test_settings(tmp_path, database_url=database_url)))
    try:
        yield await build_world(running)
    finally:
        await stop_server(running)


async def _signed_in_console(world: World) -> httpx.AsyncClient:
    http = world.running.http()
    page = await http.get("/console/sign-in")
    csrf = page.cookies["caresync_csrf"]
    signed = await http.post(
        "/console/sign-in", data={"login": world.coordinator_login, "password": PASSWORD, "csrf_token": csrf}
    )
    assert signed.status_code == 303, signed.text
    http.headers["x-csrf-token"] = csrf
    return http


def _assert_refused(answer: httpx.Response, where: str) -> None:
    assert answer.status_code == 422, (where, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/json", where
    assert answer.json()["error"]["code"] == "invalid_input", (where, answer.text)
    assert "control characters" in answer.json()["error"]["message"]


async def test_a_control_character_in_any_path_parameter_is_refused(served_world: World) -> None:
    world = served_world
    office = world.running.http(world.coordinator_token)
    console = await _signed_in_console(world)
    try:
        for method, template in parameter_routes():
            http = console if template.startswith("/console") else office
            for bad in CONTROL:
                path = re.sub(r"\{[^}]+\}", httpx.URL("/", params={"": bad}).query.decode()[1:], template)
                answer = await http.request(method, path, json={})
                _assert_refused(answer, f"{method} {path}")
    finally:
        await office.aclose()
        await console.aclose()


QUERY_ROUTES = [
    ("/api/v1/reports/devices", ("branch_id", "user_id", "sort")),
    ("/api/v1/alerts", ("branch_id", "carer_id", "status")),
    ("/api/v1/branches/{branch}/visits", ("from", "page")),
    ("/console/reports/devices", ("branch_id", "user_id", "sort")),
    ("/console/reports/devices.csv", ("branch_id", "user_id")),
    ("/console/rota", ("branch_id", "day")),
    ("/console/notifications", ("status",)),
    ("/api/v1/reports/visit-verification", ("from", "to", "branch_id")),
    ("/console/reports/visit-verification/download", ("from", "to", "branch_id")),
]


async def test_a_control_character_in_any_query_parameter_is_refused(served_world: World) -> None:
    world = served_world
    office = world.running.http(world.coordinator_token)
    console = await _signed_in_console(world)
    try:
        for template, names in QUERY_ROUTES:
            http = console if template.startswith("/console") else office
            path = template.replace("{branch}", world.a.id)
            for name in names:
                for bad in CONTROL:
                    _assert_refused(await http.get(path, params={name: bad}), f"{path}?{name}={bad!r}")
            # The name of a parameter is checked too.
            _assert_refused(await http.get(path, params={"x\x00": "1"}), f"{path} with a NUL in a name")
    finally:
        await office.aclose()
        await console.aclose()


async def test_ordinary_ids_still_reach_their_routes(served_world: World) -> None:
    world = served_world
    async with world.running.http(world.coordinator_token) as http:
        assert (await http.get(f"/api/v1/visits/{world.a.visit_id}")).status_code == 200
        assert (await http.get("/api/v1/visits/no-such-visit")).status_code == 404
        assert (await http.get("/api/v1/visits/caf%C3%A9 %E2%9C%93")).status_code == 404
        report = await http.get("/api/v1/reports/devices", params={"branch_id": world.a.id, "sort": "uuid"})
        assert report.status_code == 200, report.text
