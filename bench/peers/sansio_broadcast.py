"""Peer for the fan-out benchmark: websockets' sans-I/O ``ServerProtocol`` over a plain
``asyncio.Protocol``, framing each broadcast once.

The layer caresync's device socket runs on (server/ws/lean/), without caresync: no
sessions, no store, no metrics, no deadlines. Driven as bench/peers/ws_broadcast.py is:
clients connect and send one message; a control connection (first message ``control``)
sends ``fanout`` and the server sends one ~250-byte frame to every client. The frame is
serialized once and the same bytes are written to every transport (server frames are
unmasked and compression is not negotiated, so they are the same for everyone). Once a
socket is open the handshake request is not kept (its parser starts afresh on frames).
Messages are expected whole (one frame each), as the benchmark's clients send them.

    python -m bench.peers.sansio_broadcast PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

MAX_MESSAGE_BYTES = 65_536


def broadcast_frame() -> bytes:
    """One ~250-byte text frame as a server sends it."""
    text = json.dumps({"type": "preferences", "sent_at": time.time(), "pad": "x" * 180})
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Broadcast:
    """The open client sockets."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Transport] = set()

    def fanout(self) -> None:
        framed = broadcast_frame()
        for transport in self.clients:
            transport.write(framed)


class BroadcastConnection(asyncio.Protocol):
    """One socket: a client once its first message arrives, or the control socket."""

    __slots__ = ("broadcast", "conn", "role", "transport")

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self.conn = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
        self.transport: asyncio.Transport | None = None
        self.role = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(bytes(event.data).decode())
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.broadcast.clients.discard(self.transport)

    def _handshake(self, request: Request) -> None:
        response = self.conn.accept(request)
        self.conn.send_response(response)
        if self.conn.state is State.OPEN:  # forget the request: read frames from here on
            self.conn.parser = Protocol.parse(self.conn)
            next(self.conn.parser)

    def _message(self, text: str) -> None:
        assert self.transport is not None
        if not self.role:
            self.role = "control" if text == "control" else "client"
            if self.role == "client":
                self.broadcast.clients.add(self.transport)
        elif self.role == "control" and text == "fanout":
            self.broadcast.fanout()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.conn.data_to_send():
            if data:
                self.transport.write(data)
            else:  # the protocol is done with the connection
                self.transport.close()


async def main(port: int) -> None:
    broadcast = Broadcast()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BroadcastConnection(broadcast), "127.0.0.1", port)
    async with server:
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
