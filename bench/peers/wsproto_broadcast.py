"""Peer for the fan-out benchmark: wsproto over a plain ``asyncio.Protocol``, framing each
broadcast once.

Driven as bench/peers/ws_broadcast.py is: clients connect and send one message; a
control connection (first message ``control``) sends ``fanout`` and the server sends one
~250-byte frame to every client. wsproto answers the handshake and parses what clients
send; the broadcast is serialized once by wsproto's own framer (a server's frames are
unmasked and no extension is negotiated, so they are the same for everyone) and the same
bytes are written to every transport.

    python -m bench.peers.wsproto_broadcast PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol


def broadcast_frame() -> bytes:
    """One ~250-byte text frame as a server sends it."""
    text = json.dumps({"type": "preferences", "sent_at": time.time(), "pad": "x" * 180})
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text, fin=True))


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

    __slots__ = ("broadcast", "conn", "partial", "role", "transport")

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self.conn = WSConnection(ConnectionType.SERVER)
        self.transport: asyncio.Transport | None = None
        self.role = ""
        self.partial = ""
        """A text message's beginning, while it arrives in pieces."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.conn.receive_data(data)
        for event in self.conn.events():
            if isinstance(event, Request):
                self.transport.write(self.conn.send(AcceptConnection()))
            elif isinstance(event, TextMessage):
                self.partial += event.data
                if event.message_finished:
                    text, self.partial = self.partial, ""
                    self._message(text)
            elif isinstance(event, Ping):
                self.transport.write(self.conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    self.transport.write(self.conn.send(event.response()))
                self.transport.close()

    def eof_received(self) -> bool | None:
        self.conn.receive_data(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.broadcast.clients.discard(self.transport)

    def _message(self, text: str) -> None:
        assert self.transport is not None
        if not self.role:
            self.role = "control" if text == "control" else "client"
            if self.role == "client":
                self.broadcast.clients.add(self.transport)
        elif self.role == "control" and text == "fanout":
            self.broadcast.fanout()


async def main(port: int) -> None:
    broadcast = Broadcast()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BroadcastConnection(broadcast), "127.0.0.1", port)
    async with server:
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
