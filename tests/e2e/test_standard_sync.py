"""Standard sync over the socket: idempotent uploads, cut-offs, care never dropped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import func, select

from protocol import MAX_FRAME_BYTES
from protocol.codec import encode
from protocol.frames import CheckIn, FeedPosition, SyncRequest, SyncResponse, TaskOutcome, VisitNote
from server.seeding import seed_agency
from server.store.schema import care_records, device_mutations
from tests.conftest import RunningServer
from tests.support import RawDevice, device_matches_server, eventually, make_device


async def _count(running: RunningServer, table, **where: str) -> int:  # type: ignore[no-untyped-def]
    async with running.node.db.read() as conn:
        clauses = [table.c[k] == v for k, v in where.items()]
        return int((await conn.execute(select(func.count()).select_from(table).where(*clauses))).scalar_one())


async def test_recordings_upload_once_and_changes_download(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits()) == 4)
        visit = device.visits(carer.id)[0]
        first = device.check_in(carer.id, visit.id)
        device.record_task(carer.id, visit.id, visit.tasks[0].id, done=True)
        device.record_task(carer.id, visit.id, visit.tasks[1].id, done=False, reason="Client declined")
        device.add_note(carer.id, visit.id, "All well")
        device.check_out(carer.id, visit.id)
        summary = await device.sync()
        assert [r.status for r in summary.results] == ["applied"] * 5
        assert device.store.pending_count() == 0
        assert await _count(running, care_records, carer_id=carer.id) == 5
        assert device.store.result(first).status == "applied"  # type: ignore[union-attr]
        # Syncing again uploads nothing and applies nothing twice.
        again = await device.sync()
        assert again.uploaded == 0
        assert await _count(running, care_records, carer_id=carer.id) == 5
        assert await device_matches_server(device, running.node, agency.admin, carer.id)
    finally:
        await device.stop()


async def test_duplicated_upload_is_applied_once(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(carer)
        mutation = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=datetime.now(UTC))
        request = SyncRequest(request_id="r1", mutations=[mutation, mutation])
        await raw.send(request)
        first = await raw.receive_until(SyncResponse)
        await raw.send(SyncRequest(request_id="r2", mutations=[mutation]))
        second = await raw.receive_until(SyncResponse)
        assert isinstance(first, SyncResponse) and isinstance(second, SyncResponse)
        applied, repeated_in_request = first.results
        (repeated_later,) = second.results
        assert applied.status == "applied"
        for dup in (repeated_in_request, repeated_later):
            assert dup.status == "duplicate"
            assert dup.original_status == "applied"
            assert dup.record_id == applied.record_id
        assert await _count(running, care_records, carer_id=carer.id) == 1
    finally:
        await raw.close()


async def test_cut_after_upload_then_retry_gives_same_results(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    await eventually(lambda: len(device.visits()) == 4)
    visit = device.visits(carer.id)[0]
    for task in visit.tasks:
        device.record_task(carer.id, visit.id, task.id, done=True)
    pending = device.store.pending(100)
    await device.stop()

    # The upload reaches the server, then the connection dies before the response is read.
    raw = await RawDevice.connect(running)
    await raw.hello(carer)
    await raw.send(SyncRequest(request_id=str(uuid.uuid4()), mutations=pending))
    await raw.close()
    await eventually(lambda: _ledger_has(running, carer.device_id, len(pending)))
    # Same on the server as a first attempt would have seen: one record per mutation.
    assert await _count(running, care_records, carer_id=carer.id) == 3

    again = await make_device(running, carer, tmp_path)
    try:
        # Reconnecting with a non-empty outbox retries the upload by itself.
        await eventually(lambda: again.store.pending_count() == 0)
        results = [again.store.result(m.mutation_id) for m in pending]
        assert all(r is not None for r in results)
        assert [r.status for r in results] == ["duplicate"] * 3  # type: ignore[union-attr]
        assert [r.original_status for r in results] == ["applied"] * 3  # type: ignore[union-attr]
        async with running.node.db.read() as conn:
            ledger = {
                r.mutation_id: r.record_id
                for r in await conn.execute(
                    select(device_mutations.c.mutation_id, device_mutations.c.record_id).where(
                        device_mutations.c.device_id == carer.device_id
                    )
                )
            }
        assert {r.mutation_id: r.record_id for r in results} == ledger  # type: ignore[union-attr]
        assert await _count(running, care_records, carer_id=carer.id) == 3
    finally:
        await again.stop()


async def _ledger_has(running: RunningServer, device_id: str, n: int) -> bool:
    return await _count(running, device_mutations, device_id=device_id) == n


async def test_care_on_cancelled_or_reassigned_visit_is_kept_and_flagged(
    running: RunningServer, tmp_path: Path
) -> None:
    agency = await seed_agency(running.node, carers=2)
    carer, other = agency.carers
    device = await make_device(running, carer, tmp_path)
    try:
        await eventually(lambda: len(device.visits()) == 4)
        cancelled, moved = carer.visit_ids[0], carer.visit_ids[1]
        task = device.store.visit(carer.id, moved).tasks[0]  # type: ignore[union-attr]
        await device.stop()
        # Offline, the carer records care; meanwhile the office cancels and reassigns.
        async with running.http(agency.admin_token) as http:
            assert (await http.post(f"/api/v1/visits/{cancelled}/cancel")).status_code == 200
            response = await http.post(f"/api/v1/visits/{moved}/reassign", json={"carer_ids": [other.id]})
            assert response.status_code == 200
        device = await make_device(running, carer, tmp_path, start=False)
        ids = [
            device.check_in(carer.id, cancelled),
            device.record_task(carer.id, moved, task.id, done=True),
            device.add_note(carer.id, other.visit_ids[0], "never my visit"),
        ]
        await device.start()
        await device.sync()
        results = [device.store.result(i) for i in ids]
        statuses = [(r.status, r.reason) for r in results if r is not None]
        assert statuses == [
            ("applied_with_conflict", "visit_cancelled"),
            ("applied_with_conflict", "visit_reassigned"),
            ("rejected", "visit_not_assigned"),
        ]
        assert await _count(running, care_records, carer_id=carer.id) == 2
        # The rejected one is still kept, as received, in the ledger.
        assert await _count(running, device_mutations, device_id=carer.device_id) == 3
        await eventually(lambda: device_matches_server(device, running.node, agency.admin, carer.id))
    finally:
        await device.stop()


async def test_mutation_for_carer_not_on_device_is_rejected(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=2)
    carer, other = agency.carers
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(carer)
        note = VisitNote(
            mutation_id=7, carer_id=other.id, visit_id=other.visit_ids[0], captured_at=datetime.now(UTC), text="x"
        )
        unknown_task = TaskOutcome(
            mutation_id=8,
            carer_id=carer.id,
            visit_id=carer.visit_ids[0],
            captured_at=datetime.now(UTC),
            task_id="no-such-task",
            done=True,
        )
        await raw.send(SyncRequest(request_id="q", mutations=[note, unknown_task]))
        response = await raw.receive_until(SyncResponse)
        assert isinstance(response, SyncResponse)
        assert [(r.status, r.reason) for r in response.results] == [
            ("rejected", "carer_not_on_device"),
            ("rejected", "task_not_found"),
        ]
        assert await _count(running, care_records) == 0
    finally:
        await raw.close()


async def test_changes_download_in_pages(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1, visits_per_carer=5)
    carer = agency.carers[0]
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(carer)
        seqs: list[int] = []
        position = 0
        while True:
            await raw.send(
                SyncRequest(
                    request_id=f"p{position}",
                    positions=[FeedPosition(feed=carer.id, epoch=1, seq=position)],
                    page_size=2,
                )
            )
            page = await raw.receive_until(SyncResponse)
            assert isinstance(page, SyncResponse)
            assert len(page.changes) <= 2
            seqs.extend(c.seq for c in page.changes)
            if not page.more:
                break
            position = page.changes[-1].seq
        assert seqs == [1, 2, 3, 4, 5]
    finally:
        await raw.close()


async def test_http_fallback_serves_the_same_sync(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    mutation = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=datetime.now(UTC))
    body = SyncRequest(request_id="h1", mutations=[mutation])
    async with running.http(carer.device_token) as http:
        first = await http.post("/api/v1/device/sync", content=encode(body))
        again = await http.post("/api/v1/device/sync", content=encode(body))
        malformed = await http.post("/api/v1/device/sync", content=b"{nope")
        oversize = await http.post("/api/v1/device/sync", content=b" " * (MAX_FRAME_BYTES + 1))
    async with running.http("cdt_forged") as http:
        forged = await http.post("/api/v1/device/sync", content=encode(body))
    assert first.status_code == 200, first.text
    response = msgspec.json.decode(first.content, type=SyncResponse)
    assert [r.status for r in response.results] == ["applied"]
    assert sorted(c.seq for c in response.changes) == [1, 2, 3, 4]
    repeated = msgspec.json.decode(again.content, type=SyncResponse)
    assert repeated.results[0].status == "duplicate"
    assert repeated.results[0].record_id == response.results[0].record_id
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "malformed_frame")
    assert (oversize.status_code, oversize.json()["error"]["code"]) == (413, "frame_too_large")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "unauthorized")
    assert await _count(running, care_records, carer_id=carer.id) == 1
