"""Connections and requests cannot exhaust the server: body size, slow or silent
clients, host names it does not serve; and no `Server` header naming the stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from protocol import MAX_FRAME_BYTES
from server.connection_limits import MAX_HEADER_BYTES
from server.node import Node
from tests import conftest
from tests.conftest import RunningServer, start_server, stop_server
from tests.support import eventually


async def test_a_declared_oversize_body_is_refused_unread(running: RunningServer) -> None:
    async with running.http() as http:
        answer = await http.post("/api/v1/auth/sign-in", content=b"x" * (MAX_FRAME_BYTES + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "frame_too_large"


@pytest.mark.parametrize(
    ("path", "kind"),
    [(b"/api/v1/device/enrol", b"application/json"), (b"/console/sign-in", b"application/x-www-form-urlencoded")],
)
async def test_a_streamed_body_stops_being_read_at_the_limit(running: RunningServer, path: bytes, kind: bytes) -> None:
    """Chunked, with no end: the server must answer 413 without waiting for the rest."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: " + kind + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    for _ in range(MAX_FRAME_BYTES // len(chunk) + 2):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    await writer.drain()
    async with asyncio.timeout(10):
        status_line = await reader.readline()
    assert b" 413 " in status_line
    writer.close()


@pytest.fixture
async def impatient(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server that gives clients half a second for their headers."""
    started = await start_server(Node.build(conftest.test_settings(tmp_path, header_timeout_s=0.5)))
    yield started
    await stop_server(started)


@pytest.mark.parametrize("sent", [b"", b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "])
async def test_slow_or_silent_clients_are_cut_off(impatient: RunningServer, sent: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
    writer.write(sent)
    await writer.drain()
    async with asyncio.timeout(10):  # a bounded wait for the server's close, not a speed check
        assert await reader.read() == b""
    writer.close()
    # A prompt client on the same server is served.
    async with impatient.http() as http:
        assert (await http.get("/api/v1/alerts")).status_code == 401


@pytest.fixture
async def crowded(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server that holds at most three connections."""
    started = await start_server(Node.build(conftest.test_settings(tmp_path, max_connections=3)))
    yield started
    await stop_server(started)


async def test_connections_beyond_the_cap_are_refused(crowded: RunningServer) -> None:
    held = [await asyncio.open_connection("127.0.0.1", crowded.port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", crowded.port)
    async with asyncio.timeout(10):
        assert b" 503 " in await reader.readline()
        assert b"too many connections" in await reader.read()  # read to the server's close
    writer.close()
    for _, held_writer in held:
        held_writer.close()
        await held_writer.wait_closed()

    async def served() -> bool:
        async with crowded.http() as http:
            return (await http.get("/livez")).status_code == 200

    await eventually(served)  # once they are gone, new clients are served again


async def test_oversized_headers_are_refused(running: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    for n in range(MAX_HEADER_BYTES // 1000 + 2):
        writer.write(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000))
    await writer.drain()
    async with asyncio.timeout(10):
        assert b" 431 " in await reader.readline()
    writer.close()


async def test_the_server_header_does_not_name_the_stack(running: RunningServer) -> None:
    async with running.http() as http:
        answer = await http.get("/console/sign-in")
    assert "server" not in answer.headers


async def test_unknown_host_names_are_refused(running: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        rebound = await http.get("/console/sign-in", headers={"host": "attacker.example"})
        assert rebound.status_code == 400
        for host in (f"127.0.0.1:{running.port}", f"localhost:{running.port}", f"[::1]:{running.port}"):
            assert (await http.get("/console/sign-in", headers={"host": host})).status_code == 200
    # The same check guards WebSocket upgrades.
    for host, status in ((b"attacker.example", b" 400 "), (b"127.0.0.1", b" 101 ")):
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(
            b"GET /ws/device HTTP/1.1\r\nHost: " + host + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        async with asyncio.timeout(10):
            assert status in await reader.readline()
        writer.close()
