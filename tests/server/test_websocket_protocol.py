"""The WebSocket protocol parses what a peer sends only as fast as the app reads it, and
cuts off a peer that floods on after the server's close frame."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from server.websocket_protocol import (
    MESSAGES_AFTER_CLOSE,
    PARSE_AHEAD_MESSAGES,
    PARSE_SLICE_BYTES,
    LenientTextWebSocketProtocol,
)

BEAT = b'{"type":"heartbeat","heads":[]}'


class LoopbackTransport(asyncio.Transport):
    """What the protocol writes, and whether it asked to pause reading or to close."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)


class App:
    """Accepts, then takes messages only when told to, or closes."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.take = asyncio.Queue[str]()
        self.done = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            order = await self.take.get()
            if order == "close":
                await send({"type": "websocket.close", "code": 4005, "reason": "too many frames"})
                self.done.set()
                return
            message = await receive()
            self.received.append(message["text"])


async def _opened(app: App) -> tuple[LenientTextWebSocketProtocol, LoopbackTransport, ClientProtocol]:
    config = uvicorn.Config(app, ws_per_message_deflate=False, log_config=None)
    config.load()
    protocol = LenientTextWebSocketProtocol(config, ServerState(), {})
    transport = LoopbackTransport()
    protocol.connection_made(transport)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws/console"))
    client.send_request(client.connect())
    protocol.data_received(b"".join(client.data_to_send()))
    for _ in range(100):
        if transport.written:
            break
        await asyncio.sleep(0)
    client.receive_data(bytes(transport.written))
    assert client.events_received(), "the handshake was answered"
    return protocol, transport, client


def _frames(client: ClientProtocol, count: int) -> bytes:
    for n in range(count):
        client.send_text(BEAT[:-1] + f',"n":{n}}}'.encode())
    return b"".join(client.data_to_send())


async def test_a_read_is_parsed_only_as_far_as_the_app_takes_it() -> None:
    app = App()
    protocol, transport, client = await _opened(app)
    flood = _frames(client, 8_000)  # one 256 KiB read of small frames
    protocol.data_received(flood)
    assert protocol.queue.qsize() <= PARSE_AHEAD_MESSAGES + PARSE_SLICE_BYTES // len(BEAT)
    assert transport.paused
    for _ in range(8_000):
        app.take.put_nowait("take")
    for _ in range(10_000):
        if len(app.received) == 8_000:
            break
        await asyncio.sleep(0)
    assert [text.rsplit(":", 1)[1] for text in app.received] == [f"{n}}}" for n in range(8_000)]
    app.take.put_nowait("close")
    await app.done.wait()


async def test_a_peer_flooding_on_after_the_close_is_cut_off() -> None:
    app = App()
    protocol, transport, client = await _opened(app)
    app.take.put_nowait("close")
    for _ in range(100):
        if protocol.close_sent:
            break
        await asyncio.sleep(0)
    assert protocol.close_sent and not transport.closed
    protocol.data_received(_frames(client, MESSAGES_AFTER_CLOSE))
    assert not transport.closed, "a few frames in flight are let through to the close reply"
    protocol.data_received(_frames(client, 8_000))
    assert transport.closed


async def test_a_lost_connection_keeps_nothing_it_was_sent() -> None:
    """A closed socket that lingers (in a reference cycle, say) holds no unread frames."""
    app = App()
    protocol, _transport, client = await _opened(app)
    protocol.data_received(_frames(client, 8_000))
    app.take.put_nowait("close")
    await app.done.wait()
    protocol.connection_lost(None)
    assert not protocol._unparsed
    assert [protocol.queue.get_nowait()["type"] for _ in range(protocol.queue.qsize())] == ["websocket.disconnect"]
