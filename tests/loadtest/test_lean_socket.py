"""The fleet's lean WebSocket client tells a socket that never opened from one that closed,
and reports how an open socket ended: the code a server's close frame carried (not 1006),
or how the connection ended without one."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from websockets.http11 import Request
from websockets.server import ServerProtocol

from loadtest.lean_socket import CloseInfo, ConnectFailed, LeanSocket
from loadtest.measure import free_port
from server.node import Node
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for


def _texts_and_closes() -> tuple[list[str], list[CloseInfo]]:
    return [], []


async def test_a_close_frame_from_caresync_is_reported_with_its_code(tmp_path: Path) -> None:
    """A socket that sends no hello is closed 4002 by the server. The client answers the close
    frame and ends its side first; it used to report that as 1006."""
    server = await start_server(Node.build(settings_for(tmp_path, hello_timeout_s=0.3)))
    try:
        texts, closes = _texts_and_closes()
        socket = await LeanSocket.open(server.ws_url, texts.append, closes.append, timeout=5)
        async with asyncio.timeout(10):
            while not closes:
                await asyncio.sleep(0.02)
        assert len(closes) == 1
        assert (closes[0].code, closes[0].how) == (4002, "close_frame")
        assert 0.2 < closes[0].open_s < 5
        assert socket.transport is not None and socket.transport.is_closing()
    finally:
        await stop_server(server)


async def test_a_handshake_that_never_answers_times_out_and_leaves_nothing_open() -> None:
    """The server accepts and never answers: the open gives up, the connection is dropped at
    once (the server sees it end), and no close is reported for it later."""
    ended = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client drops the connection
            writer.close()
            await writer.wait_closed()
        ended.set()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        texts, closes = _texts_and_closes()
        with pytest.raises(ConnectFailed) as failed:
            await LeanSocket.open(f"ws://127.0.0.1:{port}/ws/device", texts.append, closes.append, timeout=0.3)
        assert failed.value.reason == "timeout"
        async with asyncio.timeout(2):
            await ended.wait()
        await asyncio.sleep(0.1)
        assert closes == [], "a socket that never opened is not reported closed"
    finally:
        listener.close()
        await listener.wait_closed()


async def test_nothing_listening_is_refused() -> None:
    texts, closes = _texts_and_closes()
    with pytest.raises(ConnectFailed) as failed:
        await LeanSocket.open(f"ws://127.0.0.1:{free_port()}/ws/device", texts.append, closes.append, timeout=2)
    assert failed.value.reason == "refused"
    assert closes == []


async def _websocket_server(after_open: str) -> tuple[asyncio.Server, asyncio.Event]:
    """A WebSocket server (websockets' own protocol) that refuses the handshake with 503
    (``refuse``), or accepts and ends the TCP connection with no close frame (``eof``) or
    sends a message and a close frame together (``text_then_close``); and an event set once
    its one connection is closed on its side."""
    finished = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol()
        while not (events := protocol.events_received()):
            protocol.receive_data(await reader.read(4096))
        request = events[0]
        assert isinstance(request, Request)
        if after_open == "refuse":
            protocol.send_response(protocol.reject(503, "too many connections; retry\n"))
        else:
            protocol.send_response(protocol.accept(request))
        writer.write(b"".join(protocol.data_to_send()))
        await writer.drain()
        if after_open == "text_then_close":  # in one write: the client reads both at once
            await asyncio.sleep(0.1)
            protocol.send_text(b'{"type":"change"}')
            protocol.send_close(4000, "draining")
            writer.write(b"".join(protocol.data_to_send()))
            await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        finished.set()

    return await asyncio.start_server(serve, "127.0.0.1", 0), finished


async def test_a_connection_ended_without_a_close_frame_is_1006_by_eof() -> None:
    listener, finished = await _websocket_server("eof")
    port = listener.sockets[0].getsockname()[1]
    try:
        texts, closes = _texts_and_closes()
        await LeanSocket.open(f"ws://127.0.0.1:{port}/ws/device", texts.append, closes.append, timeout=2)
        async with asyncio.timeout(2):
            while not closes:
                await asyncio.sleep(0.02)
        assert [(c.code, c.how) for c in closes] == [(1006, "eof")]
    finally:
        async with asyncio.timeout(2):
            await finished.wait()
        listener.close()
        await listener.wait_closed()


async def test_a_refused_handshake_is_a_connect_failure_with_its_status() -> None:
    listener, finished = await _websocket_server("refuse")
    port = listener.sockets[0].getsockname()[1]
    try:
        texts, closes = _texts_and_closes()
        with pytest.raises(ConnectFailed) as failed:
            await LeanSocket.open(f"ws://127.0.0.1:{port}/ws/device", texts.append, closes.append, timeout=2)
        assert failed.value.reason == "http_503"
        await asyncio.sleep(0.3)
        assert closes == []
    finally:
        async with asyncio.timeout(2):
            await finished.wait()
        listener.close()
        await listener.wait_closed()


async def test_a_message_read_with_the_close_frame_is_answered_quietly_and_the_code_kept() -> None:
    """A change and the server's close frame in one read: the device's ack for the change
    must not fail the connection (the close frame was already parsed)."""
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    listener, finished = await _websocket_server("text_then_close")
    port = listener.sockets[0].getsockname()[1]
    try:
        closes: list[CloseInfo] = []
        texts: list[str] = []
        holder: list[LeanSocket] = []

        def on_text(text: str) -> None:
            texts.append(text)
            holder[0].send('{"type":"ack"}')

        socket = await LeanSocket.open(f"ws://127.0.0.1:{port}/ws/device", on_text, closes.append, timeout=2)
        holder.append(socket)
        async with asyncio.timeout(2):
            while not closes:
                await asyncio.sleep(0.02)
        assert texts == ['{"type":"change"}']
        assert [(c.code, c.how) for c in closes] == [(4000, "close_frame")]
        assert errors == []
    finally:
        async with asyncio.timeout(2):
            await finished.wait()
        listener.close()
        await listener.wait_closed()
