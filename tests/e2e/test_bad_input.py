"""Bad input on the device socket: each gets its documented error or close code, and
the server keeps serving other devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Ack, Error, FeedPosition, Heartbeat, Hello, SyncRequest, Welcome
from server.seeding import SeededAgency, seed_agency
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually, make_device


@pytest.fixture
async def agency(running: RunningServer) -> SeededAgency:
    return await seed_agency(running.node, carers=2)


async def _error_after(raw: RawDevice, text: str) -> Error:
    await raw.send_text(text)
    frame = await raw.receive_until(Error)
    assert isinstance(frame, Error)
    return frame


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", ErrorCode.MALFORMED_FRAME),
        ('{"type": "teleport", "request_id": "t1"}', ErrorCode.UNKNOWN_FRAME_TYPE),
        ('{"type": "welcome"}', ErrorCode.UNKNOWN_FRAME_TYPE),
        ('{"no_type": 1}', ErrorCode.UNKNOWN_FRAME_TYPE),
        ('{"type": "ack", "feed": "x"}', ErrorCode.INVALID_FRAME),
        ('{"type": "sync_request"}', ErrorCode.INVALID_FRAME),
        ('{"type": "ack", "feed": "x", "epoch": 0, "seq": -1}', ErrorCode.INVALID_FRAME),
    ],
)
async def test_bad_frames_get_error_and_session_survives(
    running: RunningServer, agency: SeededAgency, text: str, code: ErrorCode
) -> None:
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(agency.carers[0])
        error = await _error_after(raw, text)
        assert error.code == code
        # The same session still works afterwards.
        await raw.send(Heartbeat())
        assert isinstance(await raw.receive_until(Heartbeat), Heartbeat)
    finally:
        await raw.close()


async def test_error_echoes_request_id(running: RunningServer, agency: SeededAgency) -> None:
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(agency.carers[0])
        error = await _error_after(raw, '{"type": "sync_request", "request_id": "req-9", "mutations": [{"kind": 1}]}')
        assert (error.code, error.request_id) == (ErrorCode.INVALID_FRAME, "req-9")
    finally:
        await raw.close()


async def test_oversize_frame_closes_with_documented_code(
    running: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    other = await make_device(running, agency.carers[1], tmp_path)
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(agency.carers[0])
        frame = json.dumps({"type": "sync_request", "request_id": "big", "mutations": [], "pad": "x" * MAX_FRAME_BYTES})
        await raw.send_text(frame)
        error = await raw.receive_until(Error)
        assert isinstance(error, Error) and error.code == ErrorCode.FRAME_TOO_LARGE
        assert await raw.close_code() == CloseCode.FRAME_TOO_LARGE
        # Other devices are unaffected.
        assert other.connected.is_set()
        summary = await other.sync()
        assert summary.uploaded == 0
    finally:
        await other.stop()


@pytest.mark.parametrize("token", ["cdt_wrong", "x"])
async def test_wrong_token_closes_terminal(running: RunningServer, agency: SeededAgency, token: str) -> None:
    raw = await RawDevice.connect(running)
    carer = agency.carers[0]
    await raw.send(
        Hello(token=token, device_uuid=carer.device_uuid, app_version="t", protocol_version=PROTOCOL_VERSION)
    )
    error = await raw.receive_until(Error)
    assert isinstance(error, Error) and error.code == ErrorCode.AUTH_FAILED
    assert await raw.close_code() == CloseCode.AUTH_FAILED


async def test_token_of_another_device_uuid_is_refused(running: RunningServer, agency: SeededAgency) -> None:
    raw = await RawDevice.connect(running)
    first, second = agency.carers
    await raw.send(
        Hello(
            token=first.device_token, device_uuid=second.device_uuid, app_version="t", protocol_version=PROTOCOL_VERSION
        )
    )
    assert await raw.close_code() == CloseCode.AUTH_FAILED


async def test_revoked_device_is_disconnected_and_refused(
    running: RunningServer, agency: SeededAgency, tmp_path: Path
) -> None:
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    async with running.http(agency.admin_token) as http:
        response = await http.post(f"/api/v1/devices/{carer.device_id}/revoke")
    assert response.status_code == 200, response.text
    await eventually(lambda: device.stopped_by is not None, timeout=3)
    assert device.stopped_by is not None and device.stopped_by.code == CloseCode.DEVICE_REVOKED
    await device.stop()
    raw = await RawDevice.connect(running)
    await raw.send(
        Hello(
            token=carer.device_token, device_uuid=carer.device_uuid, app_version="t", protocol_version=PROTOCOL_VERSION
        )
    )
    error = await raw.receive_until(Error)
    assert isinstance(error, Error) and error.code == ErrorCode.DEVICE_REVOKED
    assert await raw.close_code() == CloseCode.DEVICE_REVOKED


async def test_first_frame_must_be_hello(running: RunningServer) -> None:
    raw = await RawDevice.connect(running)
    await raw.send(Heartbeat())
    error = await raw.receive_until(Error)
    assert isinstance(error, Error) and error.code == ErrorCode.UNEXPECTED_FRAME
    assert await raw.close_code() == CloseCode.PROTOCOL_VIOLATION


async def test_unsupported_protocol_version(running: RunningServer, agency: SeededAgency) -> None:
    raw = await RawDevice.connect(running)
    carer = agency.carers[0]
    await raw.send(Hello(token=carer.device_token, device_uuid=carer.device_uuid, app_version="t", protocol_version=99))
    assert await raw.close_code() == CloseCode.UNSUPPORTED_VERSION


async def test_position_ahead_of_head_is_reset(running: RunningServer, agency: SeededAgency) -> None:
    carer = agency.carers[0]
    raw = await RawDevice.connect(running)
    try:
        await raw.send(
            Hello(
                token=carer.device_token,
                device_uuid=carer.device_uuid,
                app_version="t",
                protocol_version=PROTOCOL_VERSION,
                positions=[FeedPosition(feed=carer.id, epoch=1, seq=999)],
            )
        )
        welcome = await raw.receive()
        assert isinstance(welcome, Welcome)
        (status,) = welcome.feeds
        assert (status.action, status.head) == ("reset", 4)
        error = await raw.receive()
        assert isinstance(error, Error) and error.code == ErrorCode.POSITION_AHEAD
        # Replay from zero follows, so the device can rebuild the feed.
        seqs = [getattr(await raw.receive(), "seq", None) for _ in range(4)]
        assert seqs == [1, 2, 3, 4]
        # Acking beyond the head is refused too, and nothing is recorded for it.
        await raw.send(Ack(feed=carer.id, epoch=1, seq=50))
        ack_error = await raw.receive_until(Error)
        assert isinstance(ack_error, Error) and ack_error.code == ErrorCode.POSITION_AHEAD
        await raw.send(Ack(feed="not-mine", epoch=1, seq=1))
        assert (await raw.receive_until(Error)).code == ErrorCode.UNKNOWN_FEED  # type: ignore[union-attr]
        await raw.send(Ack(feed=carer.id, epoch=2, seq=1))
        assert (await raw.receive_until(Error)).code == ErrorCode.STALE_EPOCH  # type: ignore[union-attr]
    finally:
        await raw.close()


async def test_sync_for_a_feed_not_on_device(running: RunningServer, agency: SeededAgency) -> None:
    first, second = agency.carers
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(first)
        await raw.send(SyncRequest(request_id="s1", positions=[FeedPosition(feed=second.id, epoch=1, seq=0)]))
        error = await raw.receive_until(Error)
        assert isinstance(error, Error)
        assert (error.code, error.request_id) == (ErrorCode.UNKNOWN_FEED, "s1")
    finally:
        await raw.close()


async def test_too_many_bad_frames_close_the_socket(running: RunningServer, agency: SeededAgency) -> None:
    raw = await RawDevice.connect(running)
    await raw.hello(agency.carers[0])
    for _ in range(running.node.settings.max_consecutive_errors):
        await raw.send_text("garbage")
    assert await raw.close_code() == CloseCode.PROTOCOL_VIOLATION
