"""The device registry, enrolment and the User Device Relationship report, end to end."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol.errors import CloseCode
from protocol.frames import FeedPosition, SyncRequest, SyncResponse
from server.clock import ManualClock, to_datetime
from server.seeding import SeededAgency, seed_agency
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually, make_device


@pytest.fixture
async def agency(clocked: RunningServer) -> SeededAgency:
    clock = clocked.node.clock
    return await seed_agency(clocked.node, carers=2, visits_per_carer=1, day=to_datetime(clock.now_ms()))


def _clock(running: RunningServer) -> ManualClock:
    clock = running.node.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _report(running: RunningServer, token: str, **params: str) -> dict[str, dict[str, object]]:
    async with running.http(token) as http:
        response = await http.get("/api/v1/reports/devices", params=params)
    assert response.status_code == 200, response.text
    return {row["device_id"]: row for row in response.json()["devices"]}


async def test_enrolment_code_works_once_and_never_twice(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    async with clocked.http(agency.admin_token) as http:
        created = await http.post("/api/v1/devices", json={"name": "Spare phone", "carer_ids": [carer.id]})
        assert created.status_code == 201, created.text
        assert created.json()["token"] is None
        device_id = created.json()["id"]
        code = (await http.post(f"/api/v1/devices/{device_id}/enrolment-codes")).json()["code"]
    phone_uuid = str(uuid.uuid4())
    async with clocked.http() as app:
        body = {"code": code.lower(), "uuid": phone_uuid.upper(), "app_version": "4.2.0", "platform": "android"}
        enrolled = await app.post("/api/v1/device/enrol", json=body)
        assert enrolled.status_code == 201, enrolled.text
        again = await app.post("/api/v1/device/enrol", json=body)
        assert (again.status_code, again.json()["error"]["code"]) == (410, "gone")
        unknown = await app.post("/api/v1/device/enrol", json={**body, "code": "AAAA-BBBB-CCCC"})
        assert unknown.status_code == 401
    token = enrolled.json()["token"]
    device = Device(clocked.ws_url, token, phone_uuid, tmp_path / "spare.db", app_version="4.2.0")
    await device.start()
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 1)
    finally:
        await device.stop()
    report = await _report(clocked, agency.admin_token)
    assert report[device_id]["uuid"] == phone_uuid
    assert report[device_id]["app_version"] == "4.2.0"
    assert report[device_id]["platform"] == "android"


async def test_expired_code_and_bad_uuids_are_refused(clocked: RunningServer, agency: SeededAgency) -> None:
    async with clocked.http(agency.admin_token) as http:
        device_id = (
            await http.post("/api/v1/devices", json={"name": "Phone", "carer_ids": [agency.carers[0].id]})
        ).json()["id"]
        code = (await http.post(f"/api/v1/devices/{device_id}/enrolment-codes", json={"ttl_s": 60})).json()["code"]
        malformed = await http.post("/api/v1/devices", json={"name": "x", "carer_ids": [], "uuid": "not-a-uuid"})
        assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "invalid_input")
        taken = agency.carers[1].device_uuid
        duplicate = await http.post("/api/v1/devices", json={"name": "x", "carer_ids": [], "uuid": taken})
        assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "conflict")
        short = await http.post(f"/api/v1/devices/{device_id}/enrolment-codes", json={"ttl_s": 5})
        assert short.status_code == 422
    async with clocked.http() as app:
        body = {"code": code, "uuid": agency.carers[1].device_uuid, "app_version": "1"}
        assert (await app.post("/api/v1/device/enrol", json=body)).status_code == 409, "uuid of another device"
        bad = await app.post("/api/v1/device/enrol", json={**body, "uuid": "123"})
        assert bad.status_code == 422
        _clock(clocked).advance(61)
        late = await app.post("/api/v1/device/enrol", json={**body, "uuid": str(uuid.uuid4())})
        assert (late.status_code, late.json()["error"]["code"]) == (410, "gone")
        assert "expired" in late.json()["error"]["message"]


async def test_deactivated_device_is_cut_off_at_once(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = await make_device(clocked, carer, tmp_path)
    async with clocked.http(agency.admin_token) as http:
        assert (await http.post(f"/api/v1/devices/{carer.device_id}/deactivate")).status_code == 200
    await eventually(lambda: device.stopped_by is not None, timeout=1.0)
    assert device.stopped_by is not None
    assert device.stopped_by.code == CloseCode.DEVICE_REVOKED
    await device.stop()
    raw = await RawDevice.connect(clocked)
    await raw.send_text(
        f'{{"type":"hello","token":"{carer.device_token}","device_uuid":"{carer.device_uuid}",'
        '"app_version":"1","protocol_version":1}'
    )
    assert await raw.close_code() == CloseCode.DEVICE_REVOKED


async def test_reassigned_device_reconnects_to_its_new_carer(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    first, second = agency.carers
    device = Device(
        clocked.ws_url, first.device_token, first.device_uuid, tmp_path / "p.db", backoff=Backoff(0.05, 0.2)
    )
    await device.start()
    try:
        await eventually(lambda: len(device.visits(first.id)) == 1)
        async with clocked.http(agency.admin_token) as http:
            response = await http.put(
                f"/api/v1/devices/{first.device_id}/users", json={"carer_ids": [first.id, second.id]}
            )
            assert response.status_code == 200, response.text
        await eventually(lambda: len(device.visits(second.id)) == 1)
        assert set(device.positions()) == {first.id, second.id}
        report = await _report(clocked, agency.admin_token)
        assert report[first.device_id]["shared"] is True
        assert sorted(report[first.device_id]["users"]) == sorted([first.name, second.name])  # type: ignore[type-var]
    finally:
        await device.stop()


async def test_report_fields_follow_successful_and_failed_calls(clocked: RunningServer, agency: SeededAgency) -> None:
    carer = agency.carers[0]
    clock = _clock(clocked)
    before = await _report(clocked, agency.admin_token)
    assert before[carer.device_id]["last_api_call_at"] is None
    assert before[carer.device_id]["stale"] is True

    raw = await RawDevice.connect(clocked)
    await raw.hello(carer)
    await raw.send(SyncRequest(request_id="ok", positions=[FeedPosition(feed=carer.id, epoch=1, seq=0)]))
    await raw.receive_until(SyncResponse)
    await eventually(lambda: _synced(clocked, agency, carer.device_id))
    good = (await _report(clocked, agency.admin_token))[carer.device_id]
    assert good["last_api_call_ok"] is True
    assert good["last_successful_sync_at"] == good["last_api_call_at"]
    assert good["stale"] is False
    assert good["connected_now"] is True
    assert good["app_version"] == "raw/1"

    clock.advance(30)
    other = agency.carers[1].id
    await raw.send(SyncRequest(request_id="bad", positions=[FeedPosition(feed=other, epoch=1, seq=0)]))
    await eventually(lambda: _failed(clocked, agency, carer.device_id))
    bad = (await _report(clocked, agency.admin_token))[carer.device_id]
    assert bad["last_api_call_ok"] is False
    assert bad["last_api_error"] == "unknown_feed"
    assert bad["last_api_call_at"] != good["last_api_call_at"]
    assert bad["last_successful_sync_at"] == good["last_successful_sync_at"], "a failed sync is not a sync"
    await raw.close()

    clock.advance(24 * 3600 + 60)
    await clocked.node.presence.step()
    stale = await _report(clocked, agency.admin_token, stale="true")
    assert carer.device_id in stale
    fresh = await _report(clocked, agency.admin_token, stale="false")
    assert carer.device_id not in fresh


async def _synced(running: RunningServer, agency: SeededAgency, device_id: str) -> bool:
    await running.node.activity.flush()
    row = (await _report(running, agency.admin_token))[device_id]
    return row["last_successful_sync_at"] is not None


async def _failed(running: RunningServer, agency: SeededAgency, device_id: str) -> bool:
    await running.node.activity.flush()
    return (await _report(running, agency.admin_token))[device_id]["last_api_call_ok"] is False


async def test_csv_and_json_agree(clocked: RunningServer, agency: SeededAgency, tmp_path: Path) -> None:
    device = await make_device(clocked, agency.carers[0], tmp_path)
    await device.sync()
    await device.stop()
    await clocked.node.activity.flush()
    async with clocked.http(agency.admin_token) as http:
        as_json = (await http.get("/api/v1/reports/devices", params={"sort": "device_name"})).json()["devices"]
        response = await http.get("/api/v1/reports/devices", params={"format": "csv", "sort": "device_name"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(as_json) == 2
    for from_csv, from_json in zip(rows, as_json, strict=True):
        assert from_csv["device_id"] == from_json["device_id"]
        assert from_csv["device_name"] == from_json["device_name"]
        assert from_csv["uuid"] == from_json["uuid"]
        assert from_csv["users"] == "; ".join(from_json["users"])
        assert from_csv["connected_now"] == ("yes" if from_json["connected_now"] else "no")
        assert int(from_csv["sync_lag_changes"]) == from_json["sync_lag_changes"]
        for column in ("last_api_call_at", "last_successful_sync_at"):
            if from_json[column] is None:
                assert from_csv[column] == ""
            else:
                # The CSV gives whole seconds in the tenant's zone, for spreadsheets.
                exact = datetime.fromisoformat(from_json[column])
                assert datetime.fromisoformat(from_csv[column]) == exact.replace(microsecond=0)


async def test_coordinator_sees_only_their_branch_devices(clocked: RunningServer, agency: SeededAgency) -> None:
    node = clocked.node
    south = await node.directory.create_branch(agency.tenant_id, "South")
    south_carer = await node.directory.create_user(agency.tenant_id, south, "Sam", "carer")
    south_device = await node.devices.create_device(
        agency.tenant_id, name="South phone", carer_ids=[south_carer], uuid=str(uuid.uuid4()), branch_id=south
    )
    coordinator = await node.directory.create_user(agency.tenant_id, agency.branch_id, "Nora", "coordinator")
    token = await node.directory.issue_staff_token(agency.tenant_id, coordinator)
    north = await _report(clocked, token)
    assert south_device.device_id not in north
    assert set(north) == {c.device_id for c in agency.carers}
    async with clocked.http(token) as http:
        csv_text = (await http.get("/api/v1/reports/devices", params={"format": "csv"})).text
        assert "South phone" not in csv_text
        assert (await http.get("/api/v1/reports/devices", params={"branch_id": south})).status_code == 403
    everything = await _report(clocked, agency.admin_token)
    assert south_device.device_id in everything


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "unknown parameter"),
        ({"sort": "password"}, "cannot sort"),
        ({"page_size": "501"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"format": "xml"}, "format"),
        ({"stale": "maybe"}, "stale"),
    ],
)
async def test_report_bad_input(
    clocked: RunningServer, agency: SeededAgency, params: dict[str, str], message: str
) -> None:
    async with clocked.http(agency.admin_token) as http:
        response = await http.get("/api/v1/reports/devices", params=params)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


async def test_report_sorts_and_pages(clocked: RunningServer, agency: SeededAgency) -> None:
    async with clocked.http(agency.admin_token) as http:
        page1 = (await http.get("/api/v1/reports/devices", params={"page_size": "1", "sort": "device_name"})).json()
        page2 = (
            await http.get("/api/v1/reports/devices", params={"page_size": "1", "page": "2", "sort": "device_name"})
        ).json()
        desc = (await http.get("/api/v1/reports/devices", params={"sort": "device_name", "order": "desc"})).json()
    assert page1["total"] == page2["total"] == 2
    names = [page1["devices"][0]["device_name"], page2["devices"][0]["device_name"]]
    assert names == sorted(names)
    assert [d["device_name"] for d in desc["devices"]] == sorted(names, reverse=True)
