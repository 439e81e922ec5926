"""Every body the server sends writes its times one way: ``YYYY-MM-DDTHH:MM:SS.mmmZ``
(docs/protocol.md §1). Representative bodies of each kind are walked, every string that
starts like a time must have exactly that form: REST answers, the HTTP fallback, the
device socket and the console feed, with a clock whose milliseconds are not zero and
visits on whole seconds (msgspec alone writes six fraction digits for the first and none
for the second)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from protocol import PROTOCOL_VERSION
from protocol.codec import encode
from protocol.console import ConsoleHello
from protocol.frames import FeedPosition, Hello
from protocol.time_text import TIME_TEXT
from server.clock import ManualClock, to_datetime
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from tests import conftest
from tests.conftest import RunningServer, start_server, stop_server

LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d\d-\d\dT")
START_MS = 1_800_000_000_496
"""``2027-01-15T08:00:00.496Z``: msgspec alone would write ``.496000Z``."""
PASSWORD = "correct horse battery staple"


def times_in(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON body (keys included) that starts like a time."""
    if isinstance(value, str):
        if LOOKS_LIKE_A_TIME.match(value):
            yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from times_in(key)
            yield from times_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from times_in(item)


def assert_fixed_width(name: str, body: str | bytes, at_least: int = 1) -> None:
    found = list(times_in(json.loads(body)))
    assert len(found) >= at_least, (name, body)
    wrong = [t for t in found if not TIME_TEXT.fullmatch(t)]
    assert not wrong, (name, wrong)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, SeededAgency]]:
    clock = ManualClock(START_MS)
    node = Node.build(conftest.test_settings(tmp_path, mismatch_interval_s=0), clock=clock)
    running = await start_server(node)
    try:
        agency = await seed_agency(node, carers=1, visits_per_carer=1, day=to_datetime(START_MS))
        yield running, agency
    finally:
        await stop_server(running)


async def test_rest_answers_write_fixed_width_times(served: tuple[RunningServer, SeededAgency]) -> None:
    running, agency = served
    node, carer = running.node, agency.carers[0]
    async with running.http(agency.admin_token) as http:
        created = await http.post(
            "/api/v1/visits",
            json={
                "client_id": agency.client_ids[0],
                "starts_at": "2027-01-15T10:00:00+01:00",
                "ends_at": "2027-01-15T10:30:00.250+01:00",
                "carer_ids": [carer.id],
            },
        )
        assert created.status_code == 201, created.text
        visit_id = created.json()["id"]
        bodies = {
            "create visit": created.content,
            "get visit": (await http.get(f"/api/v1/visits/{visit_id}")).content,
            "reschedule": (
                await http.post(
                    f"/api/v1/visits/{visit_id}/reschedule",
                    json={"starts_at": "2027-01-15T11:00:00.123456Z", "ends_at": "2027-01-15T11:30:00Z"},
                )
            ).content,
            "branch visits": (
                await http.get(f"/api/v1/branches/{agency.branch_id}/visits", params={"from": "2027-01-14T00:00:00Z"})
            ).content,
            "carer visits": (
                await http.get(f"/api/v1/carers/{carer.id}/visits", params={"from": "2027-01-14T00:00:00Z"})
            ).content,
            "new token": (
                await http.post(f"/api/v1/users/{agency.admin.user_id}/tokens", json={"name": "t", "ttl_s": 3600})
            ).content,
            "tokens": (await http.get(f"/api/v1/users/{agency.admin.user_id}/tokens")).content,
            "enrolment code": (await http.post(f"/api/v1/devices/{carer.device_id}/enrolment-codes", json={})).content,
        }
    async with running.http(carer.device_token) as device:
        sync = await device.post(
            "/api/v1/device/sync",
            json={"type": "sync_request", "request_id": "s", "positions": [{"feed": carer.id, "epoch": 1, "seq": 0}]},
        )
        assert sync.status_code == 200, sync.text
        bodies["http sync"] = sync.content
        clean = await device.post(
            "/api/v1/device/clean-sync", json={"type": "clean_sync_request", "request_id": "c", "feed": carer.id}
        )
        assert clean.status_code == 200, clean.text
        bodies["http clean sync"] = clean.content
    await node.activity.flush()  # the device's calls reach the report
    async with running.http(agency.admin_token) as http:
        report = await http.get("/api/v1/reports/devices")
        bodies["device report"] = report.content
    # Last: setting a password signs the user's tokens out.
    login = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    await node.staff_auth.set_password(agency.tenant_id, agency.admin.user_id, login, PASSWORD)
    async with running.http() as http:
        signed = await http.post("/api/v1/auth/sign-in", json={"login": login, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        bodies["sign-in"] = signed.content
    for name, body in bodies.items():
        assert_fixed_width(name, body)


async def test_socket_and_console_frames_write_fixed_width_times(served: tuple[RunningServer, SeededAgency]) -> None:
    running, agency = served
    node, carer = running.node, agency.carers[0]
    clock = node.clock
    assert isinstance(clock, ManualClock)
    async with connect(running.console_url) as console, connect(running.ws_url) as device:
        await console.send(encode(ConsoleHello(token=agency.admin_token, positions=[])).decode())
        assert_fixed_width("console welcome", await console.recv())
        hello = Hello(
            token=carer.device_token,
            device_uuid=carer.device_uuid,
            app_version="t/1",
            protocol_version=PROTOCOL_VERSION,
            positions=[FeedPosition(feed=carer.id, epoch=1, seq=0)],
        )
        await device.send(encode(hello).decode())
        assert_fixed_width("welcome", await device.recv())
        start = to_datetime(clock.now_ms()).replace(microsecond=0) + timedelta(hours=1)
        await node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            carer_ids=[carer.id],
            tasks_=[],
        )
        kinds: dict[str, str | bytes] = {}
        while "change" not in kinds:
            frame = await device.recv()
            kinds[json.loads(frame)["type"]] = frame
        kinds["console event"] = await console.recv()
        await device.close()  # the change stays unacknowledged: an alert after the grace
        clock.advance(600)
        await node.presence.step()
        await node.activity.flush()
        await node.mismatch.run_once()
        while "alert console event" not in kinds:
            frame = await console.recv()
            if '"alert_raised"' in str(frame):
                kinds["alert console event"] = frame
    async with running.http(agency.admin_token) as http:
        kinds["alerts"] = (await http.get("/api/v1/alerts")).content
        alert_id = json.loads(kinds["alerts"])["alerts"][0]["id"]
        kinds["alert"] = (await http.get(f"/api/v1/alerts/{alert_id}")).content
        kinds["dismissed alert"] = (await http.post(f"/api/v1/alerts/{alert_id}/dismiss")).content
    for name, body in kinds.items():
        assert_fixed_width(name, body)
