"""Sync-mismatch detection with real SDK devices, real sockets and a console feed.

The node's clock is a ManualClock: tests move time past the grace period instead of
sleeping, then run a detection pass by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import Device
from protocol.console import (
    AlertDismissed,
    AlertRaised,
    AlertResolved,
    AlertUpdated,
    DeviceConnected,
    DeviceDisconnected,
    DeviceSynced,
)
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Error, FeedPosition
from server.clock import ManualClock, to_datetime
from server.seeding import SeededAgency, seed_agency
from server.services.identity import Staff
from server.services.rota import NewTask
from tests.conftest import RunningServer
from tests.support import RawConsole, eventually, make_device

GRACE_S = 120
ALERTS = (AlertRaised, AlertUpdated, AlertResolved, AlertDismissed)


@dataclass
class Office:
    agency: SeededAgency
    clock: ManualClock
    running: RunningServer

    async def new_visit(self, carer_id: str, minutes_from_now: int) -> str:
        start = to_datetime(self.clock.now_ms()) + timedelta(minutes=minutes_from_now)
        view = await self.running.node.rota.create_visit(
            self.agency.admin,
            client_id=self.agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=45),
            carer_ids=[carer_id],
            tasks_=[NewTask("Medication")],
        )
        return view.id

    async def reschedule(self, visit_id: str, minutes: int) -> None:
        view = await self.running.node.rota.get_visit(self.agency.admin, visit_id)
        await self.running.node.rota.reschedule(
            self.agency.admin,
            visit_id,
            view.starts_at + timedelta(minutes=minutes),
            view.ends_at + timedelta(minutes=minutes),
        )

    async def later(self, seconds: float) -> None:
        """Move time on and let this node touch its liveness row at the new time."""
        self.clock.advance(seconds)
        await self.running.node.presence.step()

    async def detect(self) -> None:
        await self.running.node.activity.flush()
        await self.running.node.mismatch.run_once()


@pytest.fixture
async def office(clocked: RunningServer) -> Office:
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    agency = await seed_agency(clocked.node, carers=2, visits_per_carer=0, day=to_datetime(clock.now_ms()))
    return Office(agency, clock, clocked)


async def _console(office: Office, token: str | None = None) -> RawConsole:
    console = await RawConsole.connect(office.running)
    await console.hello(token or office.agency.admin_token)
    return console


async def test_offline_device_raises_after_grace_and_ack_resolves(office: Office, tmp_path: Path) -> None:
    carer = office.agency.carers[0]
    device = await make_device(office.running, carer, tmp_path)
    await device.stop()
    console = await _console(office)
    visit_id = await office.new_visit(carer.id, minutes_from_now=30)
    await office.later(GRACE_S - 1)
    await office.detect()
    assert not [e for e in await console.events_for(0.3) if isinstance(e.event, ALERTS)], "not before the grace"
    await office.later(2)
    await office.detect()
    raised = await console.next_event((AlertRaised,))
    alert = raised.event.alert  # type: ignore[union-attr]
    assert (alert.carer_id, alert.carer_name, alert.status) == (carer.id, carer.name, "open")
    assert alert.diagnosis == "offline"
    assert [(d.device_id, d.connected, d.state) for d in alert.devices] == [(carer.device_id, False, "offline")]
    assert alert.devices[0].acked_seq == 0
    assert alert.devices[0].head_seq == 1
    assert [(v.visit_id, v.change) for v in alert.visits] == [(visit_id, "new visit")]
    assert alert.severity == "high"
    assert alert.minutes_until_start == 27
    assert "manual sync with the app open and the screen on" in alert.action

    # The device comes back, applies the change and acks: the alert resolves by itself.
    back = await make_device(office.running, carer, tmp_path)
    try:
        resolved = await console.next_event((AlertResolved,))
        assert resolved.event.alert.id == alert.id  # type: ignore[union-attr]
        assert resolved.seq > raised.seq
        async with office.running.http(office.agency.admin_token) as http:
            open_alerts = (await http.get("/api/v1/alerts")).json()["alerts"]
            recent = (await http.get("/api/v1/alerts", params={"status": "recent"})).json()["alerts"]
        assert open_alerts == []
        assert [(a["id"], a["status"]) for a in recent] == [(alert.id, "resolved")]
    finally:
        await back.stop()
        await console.close()


async def test_connected_device_that_withholds_acks_is_an_app_fault(office: Office, tmp_path: Path) -> None:
    carer = office.agency.carers[0]
    device = Device(office.running.ws_url, carer.device_token, carer.device_uuid, tmp_path / "p.db", ack=False)
    await device.start()
    console = await _console(office)
    try:
        visit_id = await office.new_visit(carer.id, minutes_from_now=300)
        await eventually(lambda: device.store.visit(carer.id, visit_id) is not None)
        await office.later(GRACE_S + 1)
        await office.detect()
        alert = (await console.next_event((AlertRaised,))).event.alert  # type: ignore[union-attr]
        assert alert.diagnosis == "not_acknowledging"
        assert [(d.connected, d.state) for d in alert.devices] == [(True, "not_acknowledging")]
        assert alert.severity == "normal"
        assert "restart the app" in alert.action
    finally:
        await device.stop()
        await console.close()


async def test_dismissed_alert_stays_dismissed_until_a_new_unacked_change(office: Office, tmp_path: Path) -> None:
    carer = office.agency.carers[0]
    console = await _console(office)
    visit_id = await office.new_visit(carer.id, minutes_from_now=600)
    await office.later(GRACE_S + 1)
    await office.detect()
    alert = (await console.next_event((AlertRaised,))).event.alert  # type: ignore[union-attr]
    async with office.running.http(office.agency.admin_token) as http:
        dismissed = await http.post(f"/api/v1/alerts/{alert.id}/dismiss")
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["status"] == "dismissed"
        assert dismissed.json()["closed_by"] == office.agency.admin.user_id
        again = await http.post(f"/api/v1/alerts/{alert.id}/dismiss")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    event = await console.next_event(ALERTS)
    assert isinstance(event.event, AlertDismissed)
    for _ in range(3):
        await office.later(GRACE_S)
        await office.detect()
    assert not [e for e in await console.events_for(0.3) if isinstance(e.event, ALERTS)]

    await office.reschedule(visit_id, 15)
    await office.later(GRACE_S - 5)
    await office.detect()
    assert not [e for e in await console.events_for(0.2) if isinstance(e.event, ALERTS)]
    await office.later(10)
    await office.detect()
    fresh = (await console.next_event((AlertRaised,))).event.alert  # type: ignore[union-attr]
    assert fresh.id != alert.id
    assert fresh.first_unacked_seq == alert.head_seq + 1
    assert [v.change for v in fresh.visits] == ["rescheduled"]
    async with office.running.node.db.read() as conn:
        from sqlalchemy import select

        from server.store.schema import alert_audit

        trail = [
            (r.action, r.actor_id)
            for r in await conn.execute(
                select(alert_audit).where(alert_audit.c.alert_id == alert.id).order_by(alert_audit.c.at)
            )
        ]
    assert trail == [("raised", None), ("dismissed", office.agency.admin.user_id)]
    await console.close()


async def _coordinator(office: Office, branch_id: str, login: str) -> str:
    node = office.running.node
    user_id = await node.directory.create_user(
        office.agency.tenant_id, branch_id, f"Coordinator {login}", "coordinator"
    )
    await node.staff_auth.set_password(office.agency.tenant_id, user_id, login, "correct horse battery")
    return (await node.staff_auth.sign_in(login, "correct horse battery")).token


async def test_coordinators_see_only_their_branch(office: Office) -> None:
    node = office.running.node
    agency = office.agency
    south = await node.directory.create_branch(agency.tenant_id, "South")
    south_carer = await node.directory.create_user(agency.tenant_id, south, "Sam South", "carer")
    south_client = await node.directory.create_client(agency.tenant_id, south, "Mr South")
    north_token = await _coordinator(office, agency.branch_id, "north@agency.test")
    south_token = await _coordinator(office, south, "south@agency.test")
    north_console = await _console(office, north_token)
    south_console = await _console(office, south_token)
    start = to_datetime(office.clock.now_ms()) + timedelta(hours=3)
    await node.rota.create_visit(
        agency.admin, client_id=south_client, starts_at=start, ends_at=start + timedelta(hours=1),
        carer_ids=[south_carer], tasks_=[],
    )  # fmt: skip
    await office.new_visit(agency.carers[0].id, minutes_from_now=200)
    await office.later(GRACE_S + 1)
    await office.detect()
    south_seen = [e for e in await south_console.events_for(0.5) if isinstance(e.event, ALERTS)]
    north_seen = [e for e in await north_console.events_for(0.5) if isinstance(e.event, ALERTS)]
    assert {e.event.alert.carer_id for e in south_seen} == {south_carer}  # type: ignore[union-attr]
    assert {e.event.alert.carer_id for e in north_seen} == {agency.carers[0].id}  # type: ignore[union-attr]
    north_alert = north_seen[0].event.alert  # type: ignore[union-attr]
    async with office.running.http(south_token) as http:
        listed = (await http.get("/api/v1/alerts")).json()["alerts"]
        assert [a["carer_id"] for a in listed] == [south_carer]
        asked = await http.get("/api/v1/alerts", params={"branch_id": agency.branch_id})
        assert asked.status_code == 403
        assert (await http.get(f"/api/v1/alerts/{north_alert.id}")).status_code == 403
        assert (await http.post(f"/api/v1/alerts/{north_alert.id}/dismiss")).status_code == 403
    async with office.running.http(agency.admin_token) as http:
        everything = (await http.get("/api/v1/alerts")).json()["alerts"]
        assert {a["carer_id"] for a in everything} == {south_carer, agency.carers[0].id}
        assert (await http.get(f"/api/v1/alerts/{north_alert.id}")).json()["status"] == "open"
    await north_console.close()
    await south_console.close()


async def test_console_resumes_with_exactly_the_missed_events(office: Office) -> None:
    console = await _console(office)
    first = await office.new_visit(office.agency.carers[0].id, minutes_from_now=400)
    await office.later(GRACE_S + 1)
    await office.detect()
    seen = await console.next_event((AlertRaised,))
    positions = list(console.positions.values())
    await console.close()

    # While the console is away: an update (a second unacked change) and a new alert.
    await office.reschedule(first, 30)
    await office.new_visit(office.agency.carers[1].id, minutes_from_now=500)
    await office.later(GRACE_S + 1)
    await office.detect()

    back = await RawConsole.connect(office.running)
    welcome = await back.hello(office.agency.admin_token, positions)
    branch_feed = next(f for f in welcome.feeds if f.feed == office.agency.branch_id)
    assert branch_feed.action == "catch_up"
    replayed = [e for e in await back.events_for(0.5) if e.feed == office.agency.branch_id]
    assert [e.seq for e in replayed] == list(range(seen.seq + 1, branch_feed.head + 1))
    kinds = sorted(type(e.event).__name__ for e in replayed if isinstance(e.event, ALERTS))
    assert kinds == ["AlertRaised", "AlertUpdated"]
    await back.close()


async def test_console_bad_input(office: Office) -> None:
    forged = await RawConsole.connect(office.running)
    await forged.ws.send('{"type": "console_hello", "token": "cst_forged"}')
    frame = await forged.receive()
    assert isinstance(frame, Error)
    assert frame.code == ErrorCode.AUTH_FAILED
    assert await forged.close_code() == CloseCode.AUTH_FAILED

    signed = await office.running.node.staff_auth.sign_in(*await _admin_login(office))
    office.clock.advance(13 * 3600)
    expired = await RawConsole.connect(office.running)
    await expired.ws.send(f'{{"type": "console_hello", "token": "{signed.token}"}}')
    assert await expired.close_code() == CloseCode.AUTH_FAILED
    async with office.running.http(signed.token) as http:
        response = await http.get("/api/v1/alerts")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "expired")

    ahead = await RawConsole.connect(office.running)
    welcome = await ahead.hello(
        office.agency.admin_token, [FeedPosition(feed=office.agency.branch_id, epoch=1, seq=10_000)]
    )
    status = next(f for f in welcome.feeds if f.feed == office.agency.branch_id)
    assert status.action == "reset"
    error = await ahead.receive()
    assert isinstance(error, Error)
    assert error.code == ErrorCode.POSITION_AHEAD
    await ahead.close()


async def _admin_login(office: Office) -> tuple[str, str]:
    """A second admin with a password (setting one revokes that user's tokens)."""
    node = office.running.node
    admin_id = await node.directory.create_user(office.agency.tenant_id, None, "Office admin", "admin")
    await node.staff_auth.set_password(office.agency.tenant_id, admin_id, "admin@agency.test", "a long passphrase")
    return "admin@agency.test", "a long passphrase"


async def test_another_tenants_alert_cannot_be_seen_or_dismissed(office: Office) -> None:
    other = await seed_agency(office.running.node, name="Other Agency", carers=1, visits_per_carer=0)
    await office.new_visit(office.agency.carers[0].id, minutes_from_now=100)
    await office.later(GRACE_S + 1)
    await office.detect()
    async with office.running.http(office.agency.admin_token) as http:
        (alert,) = (await http.get("/api/v1/alerts")).json()["alerts"]
    async with office.running.http(other.admin_token) as http:
        assert (await http.get("/api/v1/alerts")).json()["alerts"] == []
        response = await http.post(f"/api/v1/alerts/{alert['id']}/dismiss")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
        bad = await http.get("/api/v1/alerts", params={"status": "sideways"})
        assert bad.status_code == 422
        unknown = await http.get("/api/v1/alerts", params={"colour": "red"})
        assert unknown.status_code == 422
    async with office.running.http(office.agency.admin_token) as http:
        assert (await http.get(f"/api/v1/alerts/{alert['id']}")).json()["status"] == "open"


async def test_sign_in_and_out(office: Office) -> None:
    login, password = await _admin_login(office)
    async with office.running.http() as http:
        wrong = await http.post("/api/v1/auth/sign-in", json={"login": login, "password": "nope"})
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "unauthorized")
        nobody = await http.post("/api/v1/auth/sign-in", json={"login": "who@x", "password": "nope"})
        assert nobody.json() == wrong.json(), "no hint whether the login exists"
        right = await http.post("/api/v1/auth/sign-in", json={"login": login.upper(), "password": password})
        assert right.status_code == 200
        token = right.json()["token"]
    async with office.running.http(token) as http:
        assert (await http.get("/api/v1/alerts")).status_code == 200
        assert (await http.post("/api/v1/auth/sign-out")).status_code == 200
        assert (await http.get("/api/v1/alerts")).json()["error"]["code"] == "revoked"


def _staff(office: Office) -> Staff:
    return office.agency.admin


async def test_console_sees_device_connect_sync_and_disconnect(office: Office, tmp_path: Path) -> None:
    carer = office.agency.carers[0]
    console = await _console(office)
    device = await make_device(office.running, carer, tmp_path)
    try:
        connected = await console.next_event((DeviceConnected,))
        assert connected.event.device_id == carer.device_id  # type: ignore[union-attr]
        assert connected.event.carer_ids == [carer.id]  # type: ignore[union-attr]
        await device.sync()
        synced = await console.next_event((DeviceSynced,))
        assert synced.event.device_id == carer.device_id  # type: ignore[union-attr]
    finally:
        await device.stop()
    gone = await console.next_event((DeviceDisconnected,))
    assert gone.event.device_id == carer.device_id  # type: ignore[union-attr]
    await console.close()
