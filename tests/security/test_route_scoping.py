"""Every route of the REST API and the console, walked as a coordinator of branch A with
the ids of branch B and of another agency: nothing of theirs is shown or changed.

The route list comes from the app itself, so a new route is walked as soon as it exists.
Routes that act only on the caller (sign-in, sign-out) or on a device's own token are
listed in ``NOT_SCOPED`` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.routing import Route

from protocol.frames import Error, FeedPosition
from server.app import create_app
from server.clock import ManualClock
from server.node import Node
from server.store.schema import devices, mismatch_alerts, users, visits
from tests import conftest
from tests.conftest import RunningServer
from tests.security.conftest import PASSWORD, Branch, World, address_of, build_world, carer_name_of
from tests.support import RawConsole

NOT_SCOPED = {
    "/api/v1/auth/sign-in": "public: signs in whoever knows the password",
    "/api/v1/auth/sign-out": "acts on the caller's own token only",
    "/console/sign-in": "public: the sign-in form",
    "/console/sign-out": "acts on the caller's own session only",
    "/console": "a redirect to the notifications page",
    "/livez": "a probe",
    "/readyz": "a probe",
    "/healthz": "a probe",
    "/metrics": "internal networks only (see test_health_exposure)",
    "/api/v1/openapi.json": "the API description, the same for everyone",
}
ACTIONS = ("reschedule", "reassign", "cancel", "reinstate")


def walked_routes() -> list[tuple[str, str]]:
    app = create_app(Node.build(conftest.test_settings(Path("/nonexistent"))))
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.methods and route.path not in NOT_SCOPED:
            found.extend((method, route.path) for method in sorted(route.methods - {"HEAD"}))
    assert len(found) > 40
    return found


@dataclass
class Foreign:
    """Ids that belong to someone the coordinator must not reach."""

    branch: Branch
    alert_id: str
    user_id: str

    def ids(self) -> dict[str, str]:
        b = self.branch
        return {
            "visit_id": b.visit_id,
            "task_id": b.task_id,
            "branch_id": b.id,
            "carer_id": b.carer_id,
            "device_id": b.device_id,
            "user_id": self.user_id,
            "alert_id": self.alert_id,
            "token_id": self.alert_id,
            "client_id": b.client_id,
        }

    def body(self) -> dict[str, object]:
        """One body that every route would accept if the caller were allowed."""
        b = self.branch
        return {
            "client_id": b.client_id,
            "branch_id": b.id,
            "carer_ids": [b.carer_id],
            "starts_at": "2030-01-01T09:00:00+00:00",
            "ends_at": "2030-01-01T10:00:00+00:00",
            "notes": "changed by a stranger",
            "title": "a stranger's task",
            "name": "stranger",
            "role": "carer",
            "login": "stranger@example.test",
            "password": "a stranger's passphrase",
            "removed": True,
            "ttl_s": 3600,
        }


def _paths(template: str, ids: dict[str, str]) -> Iterator[str]:
    actions = ACTIONS if "{action}" in template else ("",)
    for action in actions:
        path = template.replace("{action}", action)
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"no foreign id for a parameter of {template}: extend Foreign.ids"
        yield path


def _leaks(answer: httpx.Response, foreign: Foreign) -> list[str]:
    """Foreign ids the request did not itself carry (an echo of the request is no leak),
    and foreign names and addresses, found in a successful answer."""
    if not 200 <= answer.status_code < 300:
        return []
    sent = str(answer.request.url) + answer.request.content.decode(errors="replace")
    markers = [v for v in foreign.ids().values() if v not in sent]
    markers += [carer_name_of(foreign.branch.id), address_of(foreign.branch.id)]
    return [marker for marker in markers if marker in answer.text]


async def _foreign(world: World, branch: Branch, tenant_id: str) -> Foreign:
    async with world.running.node.db.read() as conn:
        alert = (
            await conn.execute(select(mismatch_alerts.c.id).where(mismatch_alerts.c.carer_id == branch.carer_id))
        ).scalar()
        user = (
            await conn.execute(select(users.c.id).where(users.c.tenant_id == tenant_id, users.c.role == "admin"))
        ).scalar()
    assert alert is not None and user is not None
    return Foreign(branch, alert, user)


async def _state(world: World) -> list[object]:
    """What a stranger could change: visits, devices and users of B and the other agency."""
    foreign_ids = [world.b.visit_id, world.other.visit_id]
    async with world.running.node.db.read() as conn:
        rows = [tuple(r) for r in await conn.execute(select(visits).where(visits.c.id.in_(foreign_ids)))]
        rows += [
            tuple(r)
            for r in await conn.execute(
                select(devices).where(devices.c.id.in_([world.b.device_id, world.other.device_id]))
            )
        ]
        rows += [
            tuple(r) for r in await conn.execute(select(users).where(users.c.tenant_id == world.other_agency.tenant_id))
        ]
    return sorted(rows, key=repr)


@pytest.fixture
async def walked(clocked: RunningServer) -> World:
    """The world, with a sync-mismatch alert open for every carer."""
    world = await build_world(clocked)
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    clock.advance(300)
    await clocked.node.mismatch.run_once()
    return world


async def _console(world: World) -> httpx.AsyncClient:
    http = world.running.http()
    page = await http.get("/console/sign-in")
    csrf = page.cookies["caresync_csrf"]
    signed = await http.post(
        "/console/sign-in", data={"login": world.coordinator_login, "password": PASSWORD, "csrf_token": csrf}
    )
    assert signed.status_code == 303
    http.headers["x-csrf-token"] = http.cookies.get("caresync_csrf", csrf)
    return http


async def test_no_route_reaches_another_branch_or_agency(walked: World) -> None:
    world = walked
    before = await _state(world)
    strangers = [
        await _foreign(world, world.b, world.agency.tenant_id),
        await _foreign(world, world.other, world.other_agency.tenant_id),
    ]
    api = world.running.http(world.coordinator_token)
    console = await _console(world)
    leaks, changes = [], []
    try:
        for (method, template), foreign in product(walked_routes(), strangers):
            http = console if template.startswith("/console") else api
            for path in _paths(template, foreign.ids()):
                queries: list[dict[str, str]] = [{}]
                if method == "GET":
                    b = foreign.branch
                    queries += [{"branch_id": b.id}, {"carer_id": b.carer_id}, {"user_id": b.carer_id}]
                for params in queries:
                    if method == "GET":
                        answer = await http.get(path, params=params)
                    elif template.startswith("/console"):
                        csrf = http.headers["x-csrf-token"]
                        answer = await http.request(method, path, data={"csrf_token": csrf, "start": "07:00"})
                    else:
                        answer = await http.request(method, path, json=foreign.body())
                    assert answer.status_code < 500, (method, path, answer.text[:200])
                    if found := _leaks(answer, foreign):
                        leaks.append(f"{method} {path} {params}: {answer.status_code} shows {found}")
                    if 200 <= answer.status_code < 300 and method != "GET":
                        changes.append(f"{method} {path}: {answer.status_code}")
        assert leaks == []
        assert changes == []
        assert await _state(world) == before
        # The live feed follows branch A only; B's feed and the other agency's are unknown.
        raw = await RawConsole.connect(world.running)
        try:
            positions = [FeedPosition(feed=s.branch.id, epoch=1, seq=0) for s in strangers]
            welcome = await raw.hello(world.coordinator_token, positions)
            assert [f.feed for f in welcome.feeds] == [world.a.id]
            errors = [await raw.receive() for _ in strangers]
            assert all(isinstance(e, Error) and e.code == "unknown_feed" for e in errors)
        finally:
            await raw.close()
    finally:
        await api.aclose()
        await console.aclose()
