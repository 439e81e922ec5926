"""A dial that fails before the WebSocket handshake is answered is a network error like any
other: the device backs off and dials again, whatever the failure (docs/protocol.md §7.3).
Before, a connection dropped during the handshake ended the reconnect loop for good."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from client_sdk.backoff import Backoff
from client_sdk.link import Link
from protocol.frames import Hello, ServerFrame

DIALS = 4

ANSWERS = {
    "dropped before the answer": b"",
    "a balancer's 503": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "not HTTP at all": b"SSH-2.0-OpenSSH_9.2\r\n",
}


@pytest.mark.parametrize("answer", list(ANSWERS.values()), ids=list(ANSWERS))
async def test_failed_dials_never_end_the_reconnect_loop(answer: bytes) -> None:
    dialled = asyncio.Queue[None]()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()
        dialled.put_nowait(None)

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def hello() -> Hello:
        return Hello(token="t", device_uuid="u", app_version="1", protocol_version=1)

    async def on_frame(_frame: ServerFrame) -> None:
        return None

    url = f"ws://127.0.0.1:{port}/ws/device"
    link = Link([url], f"http://127.0.0.1:{port}", "t", hello, on_frame, Backoff(base_s=0.01, cap_s=0.05))
    running = asyncio.create_task(link.run())
    try:
        async with asyncio.timeout(10):
            for _ in range(DIALS):
                await dialled.get()
        assert not running.done(), running.exception() if running.done() else None
        assert link.stopped_by is None
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        server.close()
        await server.wait_closed()
