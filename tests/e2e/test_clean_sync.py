"""Clean sync, server-demanded resyncs, auto sync and the HTTP-only device, end to end."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from client_sdk import CleanSyncRefused, Device, RequestFailed
from client_sdk.backoff import Backoff
from protocol.errors import ErrorCode
from protocol.frames import CleanSyncRequest, CleanSyncResponse, Error
from server.clock import ManualClock, to_datetime
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.services.retention import compact_feeds
from server.services.rota import NewTask
from server.store.schema import care_records, devices, tenants
from tests.conftest import RunningServer
from tests.support import RawDevice, device_matches_server, eventually, make_device, server_visits


@pytest.fixture
async def agency(clocked: RunningServer) -> SeededAgency:
    return await seed_agency(clocked.node, carers=2, visits_per_carer=3, day=to_datetime(clocked.node.clock.now_ms()))


def _clock(running: RunningServer) -> ManualClock:
    clock = running.node.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _many_visits(running: RunningServer, agency: SeededAgency, carer: SeededCarer, count: int) -> None:
    start = to_datetime(running.node.clock.now_ms()) + timedelta(hours=1)
    for i in range(count):
        moment = start + timedelta(hours=2 * i)
        await running.node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[i % len(agency.client_ids)],
            starts_at=moment,
            ends_at=moment + timedelta(minutes=45),
            carer_ids=[carer.id],
            tasks_=[NewTask(f"Task {t}") for t in range(7)],
        )


async def _records(running: RunningServer, carer_id: str) -> int:
    async with running.node.db.read() as conn:
        query = select(func.count()).select_from(care_records).where(care_records.c.carer_id == carer_id)
        return int((await conn.execute(query)).scalar_one())


async def test_clean_sync_replaces_the_copy_and_continues(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = await make_device(clocked, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        device.store._db.execute("DELETE FROM visits")  # a damaged local copy
        await _many_visits(clocked, agency, carer, 60)
        positions = await device.clean_sync()
        assert positions[carer.id].seq >= 63
        assert await device_matches_server(device, clocked.node, agency.admin, carer.id)
        await clocked.node.rota.cancel(agency.admin, carer.visit_ids[0])
        await eventually(lambda: device.store.visit(carer.id, carer.visit_ids[0]).status == "cancelled")  # type: ignore[union-attr]
    finally:
        await device.stop()


async def test_refused_while_checked_in_and_forced_keeps_the_work(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = await make_device(clocked, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        await device.disconnect()
        visit = device.visits(carer.id)[0]
        device.check_in(carer.id, visit.id)
        for task in visit.tasks:
            device.record_task(carer.id, visit.id, task.id, done=True)
        device.open_form(visit.id, "medication-chart")
        with pytest.raises(CleanSyncRefused) as refused:
            await device.clean_sync()
        assert any("check-in" in reason for reason in refused.value.reasons)
        assert any("medication-chart" in reason for reason in refused.value.reasons)
        assert device.store.pending_count() == 4, "a refused clean sync changes nothing"
        await eventually(lambda: device.connected.is_set())
        await device.clean_sync(force=True)
        assert await _records(clocked, carer.id) == 4, "the check-in and task outcomes reached the server"
        assert device.store.pending_count() == 0
        assert len(device.store.work_in_progress()) == 2, "the visit is still checked in, the form still open"
        assert await device_matches_server(device, clocked.node, agency.admin, carer.id)
    finally:
        await device.stop()


def _cut_after_first_page(device: Device) -> None:
    """The screen goes dark right after the first snapshot page is stored."""
    original = device.store.stage_page

    def stage_then_cut(response: CleanSyncResponse) -> None:
        original(response)
        device.store.stage_page = original  # type: ignore[method-assign]
        device.link.cut_after_frames = 1  # the next frame on the socket kills it

    device.store.stage_page = stage_then_cut  # type: ignore[method-assign]


async def test_interrupted_clean_sync_resumes_from_its_last_page(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    await _many_visits(clocked, agency, carer, 120)
    device = await make_device(clocked, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 123)
        device.store._db.execute("DELETE FROM visits WHERE visit_id IN (SELECT visit_id FROM visits LIMIT 5)")
        _cut_after_first_page(device)
        with pytest.raises(ConnectionError):
            await device.clean_sync([carer.id])
        staged = device.store.staged(carer.id)
        assert staged is not None
        assert staged[1] is not None and staged[1].endswith(".2")
        assert len(device.visits(carer.id)) == 118, "the old copy stays in use until the swap"
        await eventually(lambda: device.connected.is_set())
        await device.clean_sync([carer.id])
        assert device.store.staged(carer.id) is None
        assert await device_matches_server(device, clocked.node, agency.admin, carer.id)
    finally:
        await device.stop()


async def test_expired_snapshot_restarts_cleanly(clocked: RunningServer, agency: SeededAgency, tmp_path: Path) -> None:
    carer = agency.carers[0]
    await _many_visits(clocked, agency, carer, 100)
    device = await make_device(clocked, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 103)
        _cut_after_first_page(device)
        with pytest.raises(ConnectionError):
            await device.clean_sync([carer.id])
        _clock(clocked).advance(11 * 60)
        await eventually(lambda: device.connected.is_set())
        await device.clean_sync([carer.id])
        assert await device_matches_server(device, clocked.node, agency.admin, carer.id)
    finally:
        await device.stop()


async def test_cursor_bad_input(clocked: RunningServer, agency: SeededAgency) -> None:
    first, second = agency.carers
    await _many_visits(clocked, agency, first, 120)
    raw = await RawDevice.connect(clocked)
    try:
        await raw.hello(first)

        async def ask(cursor: str | None, feed: str = first.id) -> CleanSyncResponse | Error:
            await raw.send(CleanSyncRequest(request_id="c", feed=feed, cursor=cursor))
            frame = await raw.receive_until((CleanSyncResponse, Error))  # type: ignore[arg-type]
            assert isinstance(frame, CleanSyncResponse | Error)
            return frame

        page1 = await ask(None)
        assert isinstance(page1, CleanSyncResponse)
        assert (page1.page, page1.pages) == (1, 3)
        snapshot = page1.snapshot_id
        for cursor, code in [
            (f"{snapshot}.3", ErrorCode.CURSOR_OUT_OF_ORDER),
            (f"{snapshot}.9", ErrorCode.INVALID_CURSOR),
            ("forged-snapshot.2", ErrorCode.INVALID_CURSOR),
            ("garbage", ErrorCode.INVALID_CURSOR),
        ]:
            error = await ask(cursor)
            assert isinstance(error, Error)
            assert error.code == code, cursor
        assert isinstance(await ask(f"{snapshot}.2"), CleanSyncResponse)
        assert isinstance(await ask(f"{snapshot}.2"), CleanSyncResponse), "the last page may be asked again"
        other = await ask(None, feed=second.id)
        assert isinstance(other, Error)
        assert other.code == ErrorCode.UNKNOWN_FEED
        _clock(clocked).advance(11 * 60)
        stale = await ask(f"{snapshot}.3")
        assert isinstance(stale, Error)
        assert stale.code == ErrorCode.SNAPSHOT_EXPIRED
    finally:
        await raw.close()


async def test_offline_past_retention_is_made_to_clean_sync(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = await make_device(clocked, carer, tmp_path)
    await eventually(lambda: len(device.visits(carer.id)) == 3)
    await device.stop()
    offline = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / f"{carer.device_uuid}.db")
    visit = offline.visits(carer.id)[0]
    offline.add_note(carer.id, visit.id, "Recorded while offline for a month")
    offline.store.close()

    clock = _clock(clocked)
    await clocked.node.rota.update_notes_by_token(agency.admin_token, visit.id, "Gate code changed")
    clock.advance(31 * 24 * 3600)
    await clocked.node.presence.step()
    report = await compact_feeds(clocked.node.db, clock)
    assert report.entries_removed >= 4
    await _many_visits(clocked, agency, carer, 2)

    back = await make_device(clocked, carer, tmp_path)
    try:
        assert back.welcome is not None
        assert [f.action for f in back.welcome.feeds] == ["clean_sync"]
        await eventually(lambda: back.store.pending_count() == 0 and not back.session.wanted_clean, timeout=10)
        # A clean sync holds the tenant's window (yesterday to 14 days ahead): the month-old
        # visits are gone from the phone, the new ones are there, exactly as on the server.
        since = to_datetime(clock.now_ms()) - timedelta(days=1)
        in_window = [v for v in await server_visits(clocked.node, agency.admin, carer.id) if v.starts_at >= since]
        await eventually(lambda: back.visits(carer.id) == in_window)
        assert len(in_window) == 2
        assert await _records(clocked, carer.id) == 1, "the offline recording still arrived"
    finally:
        await back.stop()


async def test_office_can_demand_a_clean_sync(clocked: RunningServer, agency: SeededAgency, tmp_path: Path) -> None:
    carer = agency.carers[0]
    device = await make_device(clocked, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        device.store._db.execute("DELETE FROM visits")
        async with clocked.http(agency.admin_token) as http:
            response = await http.post(f"/api/v1/devices/{carer.device_id}/resync")
            assert response.status_code == 200, response.text
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        await clocked.node.activity.flush()
        async with clocked.node.db.read() as conn:
            flag = (
                await conn.execute(select(devices.c.resync_requested_at).where(devices.c.id == carer.device_id))
            ).scalar()
        assert flag is None, "a completed clean sync clears the demand"
    finally:
        await device.stop()


async def test_preferences_reach_connected_devices_live(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    device = await make_device(clocked, agency.carers[0], tmp_path)
    try:
        assert device.preferences is not None
        assert device.preferences.auto_sync_interval_s == 900
        async with clocked.http(agency.admin_token) as http:
            changed = await http.patch(
                "/api/v1/tenant/preferences", json={"auto_sync_interval_s": 300, "auto_sync_uploads": False}
            )
            assert changed.status_code == 200, changed.text
            too_short = await http.patch("/api/v1/tenant/preferences", json={"auto_sync_interval_s": 1})
            assert too_short.status_code == 422
            unknown = await http.patch("/api/v1/tenant/preferences", json={"colour": "red"})
            assert unknown.status_code == 422
        await eventually(lambda: device.preferences.auto_sync_interval_s == 300)  # type: ignore[union-attr]
        assert device.preferences.auto_sync_uploads is False
    finally:
        await device.stop()


async def test_http_only_device_converges_like_a_socket_one(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = Device(
        clocked.ws_url,
        carer.device_token,
        carer.device_uuid,
        tmp_path / "http.db",
        transport="http",
        auto_sync_interval_s=0.2,
        backoff=Backoff(0.05, 0.2),
    )
    device.store.ensure_feed(carer.id, 1, carer.name)
    await device.start()
    try:
        await eventually(lambda: len(device.visits(carer.id)) == 3)
        visit = device.visits(carer.id)[0]
        device.check_in(carer.id, visit.id)
        await clocked.node.rota.reassign(agency.admin, visit.id, [agency.carers[1].id])
        await clocked.node.rota.add_task_by_token(agency.admin_token, carer.visit_ids[1], "Check smoke alarm")
        await eventually(lambda: device_matches_server(device, clocked.node, agency.admin, carer.id))
        await eventually(lambda: device.store.pending_count() == 0)
        result = device.store.result(1)
        assert result is not None
        assert (result.status, result.reason) == ("applied_with_conflict", "visit_reassigned")
        await device.clean_sync([carer.id], force=True)
        assert await device_matches_server(device, clocked.node, agency.admin, carer.id)
        assert device.auto_syncs >= 1
    finally:
        await device.stop()


async def test_revoked_device_cannot_upload(clocked: RunningServer, agency: SeededAgency, tmp_path: Path) -> None:
    carer = agency.carers[0]
    device = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "h.db", transport="http")
    device.store.ensure_feed(carer.id, 1, carer.name)
    device.add_note(carer.id, carer.visit_ids[0], "note")
    async with clocked.http(agency.admin_token) as http:
        assert (await http.post(f"/api/v1/devices/{carer.device_id}/revoke")).status_code == 200
    with pytest.raises(RequestFailed) as failed:
        await device.sync()
    assert failed.value.error.code == "revoked"
    assert device.stopped_by is not None
    assert device.store.pending_count() == 1, "the recording is kept on the phone"
    assert await _records(clocked, carer.id) == 0
    await device.stop()


async def test_auto_sync_follows_the_tenant_switch(
    clocked: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    async with clocked.node.db.write() as conn:
        await conn.execute(update(tenants).values(auto_sync_enabled=False))
    carer = agency.carers[0]
    device = Device(clocked.ws_url, carer.device_token, carer.device_uuid, tmp_path / "a.db", auto_sync_interval_s=0.1)
    await device.start()
    try:
        # Until its first welcome the device cannot know the tenant's choice; count from there,
        # once an auto sync begun before the welcome has finished (it holds the sync lock).
        await eventually(lambda: device.preferences is not None)
        async with device._sync_lock:
            before = device.auto_syncs
        await asyncio.sleep(0.5)
        assert device.auto_syncs == before, "auto sync is off for this tenant"
        async with clocked.http(agency.admin_token) as http:
            response = await http.patch("/api/v1/tenant/preferences", json={"auto_sync_enabled": True})
            assert response.status_code == 200
        await eventually(lambda: device.auto_syncs >= 2)
    finally:
        await device.stop()
