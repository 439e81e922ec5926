"""What one device can cost the node (docs/security.md, "What one device can cost"): the
bytes its uploads add to the store per day, rejected ones included; the frames its socket
sends per second; the HTTP sync calls it makes per second. Over each bound the device gets
a documented error (and, for a socket that keeps on, a close code), and nothing it
recorded is lost: a refused upload is applied once the quota allows."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed

from protocol import PROTOCOL_VERSION
from protocol.codec import encode
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import CheckIn, Error, FormSubmission, Heartbeat, Hello, Mutation, SyncRequest, SyncResponse
from server.clock import ManualClock, SystemClock
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.services.identity import DeviceIdentity, authenticate_device
from server.services.upload_quota import DAY_MS, REJECTED_BODY_KEPT_CHARS, UploadQuotaExceeded
from server.store.schema import care_records, device_mutations, device_upload_usage
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import RawDevice

QUOTA = 1024 * 1024


@pytest.fixture
async def clocked_node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    """A node on each store with a 1 MiB daily upload quota and a clock the test moves."""
    settings = settings_for(
        tmp_path, database_url=database_url, device_upload_bytes_per_day=QUOTA, mismatch_interval_s=0
    )
    node = Node.build(settings, clock=ManualClock(SystemClock().now_ms()))
    await node.start()
    yield node
    await node.stop()


async def _device(node: Node, agency: SeededAgency) -> DeviceIdentity:
    async with node.db.read() as conn:
        return await authenticate_device(conn, agency.carers[0].device_token)


def _unknown_visit_forms(first_id: int, count: int, carer_id: str) -> list[Mutation]:
    """Forms of 2 KB each against a visit that does not exist: all rejected ``visit_not_found``."""
    return [
        FormSubmission(
            mutation_id=first_id + i,
            carer_id=carer_id,
            visit_id=str(uuid.uuid4()),
            captured_at=datetime.now(UTC),
            form="body map",
            data={"notes": "x" * 2000},
        )
        for i in range(count)
    ]


async def _stored_bytes(node: Node, device_id: str) -> int:
    async with node.db.read() as conn:
        ledger = select(func.coalesce(func.sum(func.length(device_mutations.c.payload)), 0)).where(
            device_mutations.c.device_id == device_id
        )
        records = select(func.coalesce(func.sum(func.length(care_records.c.payload)), 0)).where(
            care_records.c.device_id == device_id
        )
        return int((await conn.execute(ledger)).scalar_one()) + int((await conn.execute(records)).scalar_one())


async def _upload_until_refused(node: Node, device: DeviceIdentity, carer_id: str) -> list[UploadQuotaExceeded]:
    """30 uploads of 100 rejected forms of 2 KB (about 6 MB in all); the refusals they got."""
    refused: list[UploadQuotaExceeded] = []
    for request in range(30):
        mutations = _unknown_visit_forms(request * 100 + 1, 100, carer_id)
        try:
            response = await node.sync.standard_sync(device, SyncRequest(request_id=f"r{request}", mutations=mutations))
        except UploadQuotaExceeded as exc:
            refused.append(exc)
            continue
        assert {r.status for r in response.results} == {"rejected"}
    return refused


async def test_rejected_uploads_stay_under_the_daily_quota(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    device = await _device(node, agency)
    refused = await _upload_until_refused(node, device, agency.carers[0].id)
    assert refused, "no upload was refused"
    first = refused[0]
    assert first.code == ErrorCode.UPLOAD_QUOTA_EXCEEDED
    assert first.request_id is not None
    now = node.clock.now_ms()
    until_midnight_s = math.ceil(((now // DAY_MS + 1) * DAY_MS - now) / 1000)
    assert first.retry_after_s == until_midnight_s
    assert f"retry in {until_midnight_s} s" in first.message
    assert await _stored_bytes(node, device.device_id) <= QUOTA
    async with node.db.read() as conn:
        longest = (await conn.execute(select(func.max(func.length(device_mutations.c.payload))))).scalar_one()
        counted = (await conn.execute(select(device_upload_usage.c.stored_bytes))).scalar_one()
    assert longest <= REJECTED_BODY_KEPT_CHARS
    assert counted <= QUOTA


async def test_a_retried_rejected_mutation_is_answered_as_first(clocked_node: Node) -> None:
    node = clocked_node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    device = await _device(node, agency)
    mutations = _unknown_visit_forms(1, 1, agency.carers[0].id)
    first = await node.sync.standard_sync(device, SyncRequest(request_id="a", mutations=mutations))
    again = await node.sync.standard_sync(device, SyncRequest(request_id="b", mutations=mutations))
    assert (first.results[0].status, first.results[0].reason) == ("rejected", "visit_not_found")
    assert (again.results[0].status, again.results[0].original_status, again.results[0].reason) == (
        "duplicate",
        "rejected",
        "visit_not_found",
    )


async def test_an_upload_refused_for_the_quota_is_applied_the_next_day(clocked_node: Node) -> None:
    node = clocked_node
    assert isinstance(node.clock, ManualClock)
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    device = await _device(node, agency)
    assert await _upload_until_refused(node, device, carer.id)
    now = datetime.now(UTC)
    check_in = CheckIn(mutation_id=10_000, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=now)
    upload = SyncRequest(request_id="care", mutations=[check_in])
    with pytest.raises(UploadQuotaExceeded) as refused:
        await node.sync.standard_sync(device, upload)
    assert refused.value.code == ErrorCode.UPLOAD_QUOTA_EXCEEDED
    async with node.db.read() as conn:
        kept = select(device_mutations).where(device_mutations.c.mutation_id == check_in.mutation_id)
        assert (await conn.execute(kept)).first() is None  # refused whole: the device still holds it
    node.clock.advance(refused.value.retry_after_s)
    response = await node.sync.standard_sync(device, upload)
    assert [r.status for r in response.results] == ["applied"]


@pytest.fixture
async def rate_limited(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A served node whose devices may send 5 frames (or make 5 HTTP calls) at once, then 1 a second."""
    settings = settings_for(
        tmp_path, device_frames_per_s=1.0, device_frame_burst=5, device_requests_per_s=1.0, device_request_burst=5
    )
    started = await start_server(Node.build(settings))
    yield started
    await stop_server(started)


async def test_a_flooding_device_socket_is_told_then_closed(rate_limited: RunningServer) -> None:
    agency = await seed_agency(rate_limited.node, carers=1, visits_per_carer=1)
    device = await RawDevice.connect(rate_limited)
    try:
        await device.hello(agency.carers[0])
        errors, closed = await _flood_until_closed(device)
    finally:
        await device.close()
    assert errors, "no error frame before the close"
    assert {e.code for e in errors} == {ErrorCode.RATE_LIMITED}
    assert closed.rcvd is not None
    assert closed.rcvd.code == CloseCode.TOO_MANY_FRAMES
    assert "retry in" in closed.rcvd.reason


async def _flood_until_closed(device: RawDevice) -> tuple[list[Error], ConnectionClosed]:
    """Send 200 heartbeats at once, then read until the server closes (within 10 s: the
    server's own heartbeats keep coming, so only a close ends the reading); the errors it sent."""
    errors: list[Error] = []
    try:
        async with asyncio.timeout(10):
            for _ in range(200):
                await device.send(Heartbeat())
            while True:
                frame = await device.receive()
                if isinstance(frame, Error):
                    errors.append(frame)
    except ConnectionClosed as closed:
        return errors, closed


async def test_a_frame_over_the_rate_is_answered_with_its_request_id(rate_limited: RunningServer) -> None:
    agency = await seed_agency(rate_limited.node, carers=1, visits_per_carer=1)
    device = await RawDevice.connect(rate_limited)
    try:
        await device.hello(agency.carers[0])  # the hello was one of the five
        for _ in range(4):
            await device.send(Heartbeat())
        await device.send(SyncRequest(request_id="over-the-rate"))
        error = await device.receive_until(Error)
    finally:
        await device.close()
    assert isinstance(error, Error)
    assert (error.code, error.request_id) == (ErrorCode.RATE_LIMITED, "over-the-rate")


async def test_http_sync_calls_over_the_rate_get_429(rate_limited: RunningServer) -> None:
    agency = await seed_agency(rate_limited.node, carers=1, visits_per_carer=1)
    statuses = []
    async with rate_limited.http(agency.carers[0].device_token) as http:
        for i in range(10):
            answer = await http.post("/api/v1/device/sync", content=encode(SyncRequest(request_id=f"h{i}")))
            statuses.append(answer.status_code)
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limited"
    assert int(answer.headers["retry-after"]) >= 1


async def test_an_http_upload_over_the_quota_gets_429_with_retry_after(tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path, device_upload_bytes_per_day=64 * 1024))
    running = await start_server(node)
    try:
        agency = await seed_agency(node, carers=1, visits_per_carer=1)
        async with running.http(agency.carers[0].device_token) as http:
            for request in range(10):
                mutations = _unknown_visit_forms(request * 50 + 1, 50, agency.carers[0].id)
                body = encode(SyncRequest(request_id=f"q{request}", mutations=mutations))
                answer = await http.post("/api/v1/device/sync", content=body)
                if answer.status_code != 200:
                    break
    finally:
        await stop_server(running)
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "upload_quota_exceeded"
    assert 0 < int(answer.headers["retry-after"]) <= 24 * 3600


async def test_a_device_retrying_over_its_quota_keeps_its_socket(tmp_path: Path) -> None:
    """Quota refusals are answers to well-formed uploads, not bad frames: a device that
    retries its outbox more times in a row than the bad-frame limit is refused each time
    and its socket stays open (a 4102 close would be terminal)."""
    node = Node.build(settings_for(tmp_path, device_upload_bytes_per_day=16 * 1024, max_consecutive_errors=5))
    running = await start_server(node)
    device = await RawDevice.connect(running)
    try:
        agency = await seed_agency(node, carers=1, visits_per_carer=1)
        carer = agency.carers[0]
        await device.hello(carer)
        codes = []
        for attempt in range(12):
            mutations = _unknown_visit_forms(attempt * 20 + 1, 20, carer.id)
            await device.send(SyncRequest(request_id=f"u{attempt}", mutations=mutations))
            answer = await device.receive_until((Error, SyncResponse))
            codes.append(answer.code if isinstance(answer, Error) else "answered")
        assert codes.count(ErrorCode.UPLOAD_QUOTA_EXCEEDED) > 5
        await device.send(SyncRequest(request_id="positions only"))
        answer = await device.receive_until((Error, SyncResponse))
        assert isinstance(answer, SyncResponse) and answer.request_id == "positions only"
    finally:
        await device.close()
        await stop_server(running)


async def test_a_device_closed_for_flooding_sits_out_its_wait(tmp_path: Path) -> None:
    """After 4005 the device's token is refused at hello, with the same close and the wait
    left, until the wait its close named has passed; then it is greeted again."""
    clock = ManualClock(SystemClock().now_ms())
    settings = settings_for(tmp_path, device_frames_per_s=1.0, device_frame_burst=5)
    running = await start_server(Node.build(settings, clock=clock))
    try:
        agency = await seed_agency(running.node, carers=1, visits_per_carer=1)
        carer = agency.carers[0]
        device = await RawDevice.connect(running)
        await device.hello(carer)
        _, closed = await _flood_until_closed(device)
        assert closed.rcvd is not None and closed.rcvd.code == CloseCode.TOO_MANY_FRAMES
        again = await RawDevice.connect(running)
        await again.send(_hello_of(carer))
        refused = await again.receive_until(Error)
        assert isinstance(refused, Error) and refused.code == ErrorCode.RATE_LIMITED
        assert "retry in 10 s" in refused.message
        assert await again.close_code() == CloseCode.TOO_MANY_FRAMES
        clock.advance(10.001)
        later = await RawDevice.connect(running)
        await later.hello(carer)
        await later.close()
    finally:
        await stop_server(running)


def _hello_of(carer: SeededCarer) -> Hello:
    return Hello(
        token=carer.device_token,
        device_uuid=carer.device_uuid,
        app_version="raw/1",
        protocol_version=PROTOCOL_VERSION,
        positions=[],
    )
