"""Syncs cut at every frame boundary (property-based) and servers killed mid-sync: the
device always ends with the server's state, every mutation applied exactly once, and no
recording lost."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol.frames import CleanSyncResponse
from server.clock import to_datetime
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.identity import Staff
from server.services.rota import NewTask
from server.settings import Settings
from server.store.schema import care_records, device_mutations
from tests.cluster import ServeProcess
from tests.support import eventually, server_visits

ROTA_OPS = st.lists(
    st.tuples(st.sampled_from(["reschedule", "cancel", "task", "notes", "swap"]), st.integers(0, 3)), max_size=8
)
RECORDINGS = st.lists(
    st.tuples(st.sampled_from(["check_in", "task", "bad_task", "note", "check_out"]), st.integers(0, 3)), max_size=8
)


async def _rota(node: Node, admin: Staff, agency: SeededAgency, ops: list[tuple[str, int]]) -> None:
    carer, other = agency.carers
    for op, i in ops:
        visit_id = carer.visit_ids[i]
        view = await node.rota.get_visit(admin, visit_id)
        if op == "reschedule":
            await node.rota.reschedule(
                admin, visit_id, view.starts_at + timedelta(minutes=5), view.ends_at + timedelta(minutes=5)
            )
        elif op == "cancel" and view.status != "cancelled":
            await node.rota.cancel(admin, visit_id)
        elif op == "task":
            await node.rota.add_task_by_token(agency.admin_token, visit_id, f"Task {i}")
        elif op == "notes":
            await node.rota.update_notes_by_token(agency.admin_token, visit_id, f"Notes {i}")
        elif op == "swap":
            assigned = view.carer_ids
            await node.rota.reassign(admin, visit_id, [other.id] if carer.id in assigned else [carer.id])


def _record(device: Device, agency: SeededAgency, recordings: list[tuple[str, int]]) -> int:
    carer = agency.carers[0]
    for kind, i in recordings:
        visit_id = carer.visit_ids[i]
        if kind == "check_in":
            device.check_in(carer.id, visit_id)
        elif kind == "check_out":
            device.check_out(carer.id, visit_id)
        elif kind == "note":
            device.add_note(carer.id, visit_id, f"note {i}")
        elif kind == "task":
            local = device.store.visit(carer.id, visit_id)
            assert local is not None
            device.record_task(carer.id, visit_id, local.tasks[0].id, done=True)
        else:
            device.record_task(carer.id, visit_id, "no-such-task", done=True)  # rejected, kept in the ledger
    return len(recordings)


async def _count(node: Node, table, device_id: str) -> int:  # type: ignore[no-untyped-def]
    async with node.db.read() as conn:
        query = select(func.count()).select_from(table).where(table.c.device_id == device_id)
        return int((await conn.execute(query)).scalar_one())


async def _until_done(device: Device, clean: bool) -> None:
    """Retry as a carer would (open the app again) until the sync completes."""
    for _ in range(20):
        try:
            await eventually(lambda: device.connected.is_set(), timeout=5)
            if clean:
                await device.clean_sync(force=True)
            else:
                await device.sync()
            return
        except ConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("sync never completed")


async def _scenario(
    workdir: Path, clean: bool, ops: list[tuple[str, int]], recordings: list[tuple[str, int]], cut: int
) -> None:
    node = Node.build(
        Settings(database_url=f"sqlite:///{workdir / 'db.sqlite'}", heartbeat_interval_s=0.3, ack_flush_interval_s=0.02)
    )
    running = await start_server(node)
    try:
        agency = await seed_agency(node, carers=2, visits_per_carer=4, day=to_datetime(node.clock.now_ms()))
        carer = agency.carers[0]
        device = Device(
            running.ws_url, carer.device_token, carer.device_uuid, workdir / "phone.db", backoff=Backoff(0.02, 0.1)
        )
        await device.start()
        try:
            await eventually(lambda: len(device.visits(carer.id)) == 4)
            recorded = _record(device, agency, recordings)
            await _rota(node, agency.admin, agency, ops)
            device.link.cut_after_frames = cut
            try:
                if clean:
                    await device.clean_sync(force=True)
                else:
                    await device.sync()
            except ConnectionError:
                pass
            device.link.cut_after_frames = None
            await _until_done(device, clean)
            await device.sync()
            expected = await server_visits(node, agency.admin, carer.id)
            await eventually(lambda: device.visits(carer.id) == expected, timeout=5)
            assert device.store.pending_count() == 0, "no recording is left behind"
            assert await _count(node, device_mutations, carer.device_id) == recorded, "each mutation received once"
            stored = await _count(node, care_records, carer.device_id)
            rejected = sum(1 for kind, _i in recordings if kind == "bad_task")
            assert stored == recorded - rejected, "each recording applied exactly once"
        finally:
            await device.stop()
    finally:
        await stop_server(running)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ROTA_OPS, recordings=RECORDINGS, cut=st.integers(1, 30))
def test_standard_sync_cut_at_any_frame(
    ops: list[tuple[str, int]], recordings: list[tuple[str, int]], cut: int
) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(_scenario(Path(workdir), False, ops, recordings, cut))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ROTA_OPS, recordings=RECORDINGS, cut=st.integers(1, 30))
def test_clean_sync_cut_at_any_frame(ops: list[tuple[str, int]], recordings: list[tuple[str, int]], cut: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(_scenario(Path(workdir), True, ops, recordings, cut))


async def test_server_killed_mid_upload_and_mid_clean_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=1, visits_per_carer=4, day=to_datetime(seeder.clock.now_ms()))
    carer = agency.carers[0]
    start = to_datetime(seeder.clock.now_ms()) + timedelta(hours=1)
    for i in range(200):
        moment = start + timedelta(minutes=90 * i)
        await seeder.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=moment,
            ends_at=moment + timedelta(minutes=30),
            carer_ids=[carer.id],
            tasks_=[NewTask("Medication"), NewTask("Meal")],
        )
    server = ServeProcess(url, None, "solo", tmp_path)
    await server.start()
    device = Device(
        server.ws_url, carer.device_token, carer.device_uuid, tmp_path / "phone.db", backoff=Backoff(0.05, 0.3)
    )
    try:
        await device.start()
        await eventually(lambda: len(device.visits(carer.id)) == 204, timeout=20)

        # 1. A standard sync uploading 150 recordings: the server dies as the request leaves.
        for i in range(150):
            device.add_note(carer.id, carer.visit_ids[i % 4], f"note {i}")
        original_send = device.link._send

        async def send_then_kill(ws, text: str) -> None:  # type: ignore[no-untyped-def]
            await original_send(ws, text)
            if '"type":"sync_request"' in text and '"kind":"visit_note"' in text:
                device.link._send = original_send  # type: ignore[method-assign]
                server.kill()

        device.link._send = send_then_kill  # type: ignore[method-assign]
        with contextlib.suppress(ConnectionError, TimeoutError):
            await device.sync(timeout=5)
        await server.start()
        await _until_done(device, clean=False)
        assert device.store.pending_count() == 0
        assert await _count(seeder, device_mutations, carer.device_id) == 150
        assert await _count(seeder, care_records, carer.device_id) == 150

        # 2. A clean sync of 204 visits (5 pages): the server dies after the first page.
        original_stage = device.store.stage_page

        def stage_then_kill(response: CleanSyncResponse) -> None:
            original_stage(response)
            device.store.stage_page = original_stage  # type: ignore[method-assign]
            server.kill()

        device.store.stage_page = stage_then_kill  # type: ignore[method-assign]
        with contextlib.suppress(ConnectionError, TimeoutError):
            await device.clean_sync([carer.id], force=True)
        staged = device.store.staged(carer.id)
        assert staged is not None
        await server.start()
        await _until_done(device, clean=True)
        assert device.store.staged(carer.id) is None
        assert device.visits(carer.id) == await server_visits(seeder, agency.admin, carer.id)
    finally:
        await device.stop()
        server.stop()
        await seeder.db.close()
