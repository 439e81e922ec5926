"""The device socket served on the lean layer, over real loopback connections: the
handshake's refusals, messages as the protocol frames them, no task while idle, the
delivery probe (4001 at default socket buffers), the keepalive and the shutdown close."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from protocol.codec import encode
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Error, Heartbeat
from server.api.host_guard import REFUSAL
from server.embedded import RunningServer
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.ws.feed_socket import FeedSocket
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import RawDevice, eventually


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[RunningServer, SeededAgency]]:
    overrides = getattr(request, "param", {})
    node = Node.build(settings_for(tmp_path, **overrides))
    running = await start_server(node)
    try:
        yield running, await seed_agency(node, carers=2)
    finally:
        await stop_server(running)


async def _raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return answer


async def test_a_host_outside_the_allowed_hosts_is_refused_with_the_setting_named(
    served: tuple[RunningServer, SeededAgency],
) -> None:
    running, _ = served
    answer = await _raw_request(
        running.port,
        b"GET /ws/device HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert REFUSAL.encode() in answer


async def test_an_upgrade_without_a_key_is_refused(served: tuple[RunningServer, SeededAgency]) -> None:
    running, _ = served
    answer = await _raw_request(
        running.port,
        b"GET /ws/device HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Sec-WebSocket-Key" in answer


async def test_a_fragmented_hello_and_a_binary_heartbeat_are_read_as_text(
    served: tuple[RunningServer, SeededAgency],
) -> None:
    running, agency = served
    raw = await RawDevice.connect(running)
    welcome = await raw.hello(agency.carers[0])
    beat = encode(Heartbeat(heads=[]))
    await raw.ws.send([beat[:5].decode(), beat[5:].decode()])  # two fragments of one text message
    frame = await raw.receive_until(Heartbeat)
    assert isinstance(frame, Heartbeat) and frame.heads[0].feed == welcome.feeds[0].feed
    await raw.ws.send(beat)  # binary
    assert isinstance(await raw.receive_until(Heartbeat), Heartbeat)
    await raw.ws.send(b'{"type":"heartbeat","heads":[]}\xff')  # binary, not UTF-8
    error = await raw.receive_until(Error)
    assert isinstance(error, Error) and error.code == ErrorCode.MALFORMED_FRAME
    await raw.close()


async def test_a_frame_over_the_limit_is_refused_4103(served: tuple[RunningServer, SeededAgency]) -> None:
    running, agency = served
    raw = RawDevice(await connect(running.ws_url, max_size=None))
    await raw.hello(agency.carers[0])
    await raw.ws.send("x" * 300_000)
    error = await raw.receive_until(Error)
    assert isinstance(error, Error) and error.code == ErrorCode.FRAME_TOO_LARGE
    assert await raw.close_code() == CloseCode.FRAME_TOO_LARGE


async def test_idle_device_sockets_hold_no_task(served: tuple[RunningServer, SeededAgency]) -> None:
    running, agency = served
    before = asyncio.all_tasks()
    devices = []
    for carer in agency.carers:
        raw = await RawDevice.connect(running)
        await raw.hello(carer)
        devices.append(raw)
    await asyncio.sleep(0.3)
    held = [t for t in asyncio.all_tasks() - before if not _client_side(t)]
    assert not held, f"idle device sockets hold tasks: {held}"
    for raw in devices:
        await raw.close()


def _client_side(task: asyncio.Task[object]) -> bool:
    """A task of the test's own client connections (the websockets library's reader and keepalive)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "/site-packages/websockets/" in code.co_filename


@pytest.mark.parametrize("served", [{"send_stall_s": 2.0}], indirect=True)
async def test_a_device_that_stops_reading_is_closed_4001_at_default_socket_buffers(
    served: tuple[RunningServer, SeededAgency],
) -> None:
    """No small receive window: the kernel's buffers would hold minutes of pushes. The
    delivery probe finds the device not reading within ``send_stall_s``."""
    running, agency = served
    node = running.node
    carer = agency.carers[0]
    raw = RawDevice(await connect(running.ws_url, ping_interval=None))
    await raw.hello(carer)
    raw.ws.transport.pause_reading()
    before = FeedSocket.slow_consumers_closed
    stopped = asyncio.get_running_loop().time()
    for n in range(200):
        await node.rota.update_notes_by_token(agency.admin_token, carer.visit_ids[0], f"note {n}")
        if FeedSocket.slow_consumers_closed > before:
            break
        await asyncio.sleep(0.02)
    await eventually(lambda: FeedSocket.slow_consumers_closed > before, timeout=5)
    assert asyncio.get_running_loop().time() - stopped < 2.0 + 1.0
    raw.ws.transport.resume_reading()
    try:
        async with asyncio.timeout(10):
            while True:
                await raw.ws.recv()
    except ConnectionClosed:
        pass
    assert raw.ws.close_code == CloseCode.SLOW_CONSUMER


@pytest.mark.parametrize("served", [{"ws_ping_interval_s": 0.3, "ws_ping_timeout_s": 0.3}], indirect=True)
async def test_a_peer_that_answers_no_ping_is_closed_1011(served: tuple[RunningServer, SeededAgency]) -> None:
    running, agency = served
    sock = socket.create_connection(("127.0.0.1", running.port))
    sock.setblocking(False)
    raw = RawDevice(await connect(running.ws_url, sock=sock, ping_interval=None))
    await raw.hello(agency.carers[0])
    raw.ws.transport.pause_reading()  # pings unread: no pong
    await asyncio.sleep(1.5)
    raw.ws.transport.resume_reading()
    assert await raw.close_code(timeout=5) == 1011


async def test_the_nodes_own_shutdown_closes_4000_with_a_reconnect_hint(tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path))
    running = await start_server(node)
    agency = await seed_agency(node, carers=1)
    raw = await RawDevice.connect(running)
    await raw.hello(agency.carers[0])
    await stop_server(running)
    assert await raw.close_code() == CloseCode.SERVER_SHUTDOWN
    assert "reconnect_after_ms=" in (raw.ws.close_reason or "")
