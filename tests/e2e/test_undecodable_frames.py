"""Frames that cannot be decoded, in both directions.

A device that receives a frame it cannot decode (a shape this app version does not know,
a corrupt frame) neither crashes its connection nor skips what the frame may have carried:
it clean-syncs the feed the frame named and ends level with the server. A server that
receives a frame that is not UTF-8, as text or binary, on a device or console socket,
answers ``malformed_frame`` (with the frame's request id when it can be read), keeps the
socket open and logs no traceback (docs/protocol.md, section 7.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import link
from protocol.codec import encode
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import Error, FeedPosition, Heartbeat, ServerFrame
from server.clock import to_datetime
from server.seeding import SeededAgency, seed_agency
from server.services.rota import NewTask
from tests.conftest import RunningServer
from tests.support import RawConsole, RawDevice, device_matches_server, eventually, make_device


async def test_an_undecodable_change_becomes_a_clean_sync_of_its_feed(
    running: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    cleaned: list[list[str] | None] = []
    clean_sync = device.clean_sync

    async def counted(feeds: list[str] | None = None, *, force: bool = False) -> dict[str, FeedPosition]:
        cleaned.append(feeds)
        return await clean_sync(feeds, force=force)

    device.clean_sync = counted  # type: ignore[method-assign]
    decode = link.decode_server_frame
    spoiled: list[str] = []

    def unreadable_first_change(raw: bytes | str) -> ServerFrame:
        text = raw.decode() if isinstance(raw, bytes) else raw
        if '"type":"change"' in text and not spoiled:
            spoiled.append(text)
            raise ProtocolError(ErrorCode.INVALID_FRAME, "a payload kind this app does not know")
        return decode(raw)

    monkeypatch.setattr(link, "decode_server_frame", unreadable_first_change)
    try:
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=3)
        view = await node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            carer_ids=[carer.id],
            tasks_=[NewTask("Lunch")],
        )
        await eventually(lambda: cleaned == [[carer.id]])
        await eventually(lambda: device.store.visit(carer.id, view.id) is not None)
        assert spoiled and device.link.connected.is_set(), "the socket stayed up"
        assert await device_matches_server(device, node, agency.admin, carer.id)
    finally:
        await device.stop()


NOT_UTF8 = [
    pytest.param(
        b'{"type": "sync_request", "request_id": "u1", "note": "caf\xe9"}', True, "u1", id="text, in a string"
    ),
    pytest.param(b'{"type": "heartbeat", "heads": [], "x": "\xed\xa0\x80"}', True, None, id="text, a surrogate"),
    pytest.param(b"\xff\xfe{}", True, None, id="text, outside any string"),
    pytest.param(b'{"type": "sync_request", "request_id": "u2", "note": "\xc3"}', False, "u2", id="binary"),
]


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, uvicorn's own included (its loggers may not propagate to the root)."""
    caplog.set_level(logging.INFO)
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in loggers:
        logger.removeHandler(caplog.handler)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.fixture
async def agency(running: RunningServer) -> SeededAgency:
    return await seed_agency(running.node, carers=1, clients=1, visits_per_carer=1)


@pytest.mark.parametrize(("payload", "as_text", "request_id"), NOT_UTF8)
async def test_a_device_frame_that_is_not_utf8_is_malformed_and_the_socket_stays_open(
    running: RunningServer,
    agency: SeededAgency,
    server_log: pytest.LogCaptureFixture,
    payload: bytes,
    as_text: bool,
    request_id: str | None,
) -> None:
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(agency.carers[0])
        await raw.ws.send(payload, text=as_text)
        error = await raw.receive_until(Error)
        assert isinstance(error, Error)
        assert (error.code, error.request_id) == (ErrorCode.MALFORMED_FRAME, request_id)
        await raw.send(Heartbeat())
        assert isinstance(await raw.receive_until(Heartbeat), Heartbeat)
    finally:
        await raw.close()
    assert _tracebacks(server_log) == []


@pytest.mark.parametrize(("payload", "as_text", "request_id"), NOT_UTF8)
async def test_a_console_frame_that_is_not_utf8_is_malformed_and_the_socket_stays_open(
    running: RunningServer,
    agency: SeededAgency,
    server_log: pytest.LogCaptureFixture,
    payload: bytes,
    as_text: bool,
    request_id: str | None,
) -> None:
    console = await RawConsole.connect(running)
    try:
        await console.hello(agency.admin_token)
        await console.ws.send(payload, text=as_text)
        error = await console.receive()
        while not isinstance(error, Error):
            error = await console.receive()
        assert (error.code, error.request_id) == (ErrorCode.MALFORMED_FRAME, request_id)
        await console.ws.send(encode(Heartbeat()).decode())
        assert isinstance(await console.receive(), Heartbeat)
    finally:
        await console.close()
    assert _tracebacks(server_log) == []


async def test_a_first_frame_that_is_not_utf8_is_malformed_and_closes_4102(
    running: RunningServer, server_log: pytest.LogCaptureFixture
) -> None:
    raw = await RawDevice.connect(running)
    await raw.ws.send(b'{"type": "hello", "token": "\xff"}', text=True)
    error = await raw.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.MALFORMED_FRAME
    assert await raw.close_code() == CloseCode.PROTOCOL_VIOLATION
    assert _tracebacks(server_log) == []
