"""Peer for the fan-out benchmark: a picows broadcast server (C framing and parsing).

Driven as bench/peers/ws_broadcast.py is: clients connect and send one message; a
control connection (first message ``control``) sends ``fanout`` and the server sends one
~250-byte frame to every client through picows' own ``send`` (framed in C for each
transport; picows has no call that writes pre-framed bytes). picows answers pings
itself. picows is in the dev extra only (not a dependency of the server); bench/fanout.py skips this peer
when it is not installed.

By default the sockets are asyncio's own transports, as for every other peer;
``aiofastnet`` as the second argument uses picows' faster transports from that package
instead (when it is installed). The third is the read buffer each connection starts with
(picows' default 16 KiB; it grows when a frame does not fit, and picows allocates at
least 2 KiB).

    python -m bench.peers.picows_broadcast PORT [asyncio|aiofastnet] [READ_BUFFER_BYTES]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


def broadcast_text() -> bytes:
    """The ~250-byte text of one broadcast, UTF-8."""
    return json.dumps({"type": "preferences", "sent_at": time.time(), "pad": "x" * 180}).encode()


class Broadcast:
    """The open client sockets."""

    def __init__(self) -> None:
        self.clients: set[WSTransport] = set()

    def fanout(self) -> None:
        text = broadcast_text()
        for transport in self.clients:
            transport.send(WSMsgType.TEXT, text)


class BroadcastListener(WSListener):
    """One socket: a client once its first message arrives, or the control socket."""

    __slots__ = ("broadcast", "role")

    def __init__(self, broadcast: Broadcast) -> None:
        super().__init__()
        self.broadcast = broadcast
        self.role = ""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self._message(transport, frame.get_payload_as_utf8_text())
        elif frame.msg_type is WSMsgType.CLOSE:
            code = frame.get_close_code()  # NO_INFO for a close frame without one
            transport.send_close(WSCloseCode.OK if code is WSCloseCode.NO_INFO else code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.broadcast.clients.discard(transport)

    def _message(self, transport: WSTransport, text: str) -> None:
        if not self.role:
            self.role = "control" if text == "control" else "client"
            if self.role == "client":
                self.broadcast.clients.add(transport)
        elif self.role == "control" and text == "fanout":
            self.broadcast.fanout()


DEFAULT_READ_BUFFER_BYTES = 16 * 1024


async def main(port: int, transports: str, read_buffer_bytes: int) -> None:
    if transports not in ("asyncio", "aiofastnet"):
        raise SystemExit(f"transports: asyncio or aiofastnet, not {transports!r}")
    broadcast = Broadcast()

    def listener(_request: WSUpgradeRequest) -> BroadcastListener:
        return BroadcastListener(broadcast)

    server = await ws_create_server(
        listener,
        "127.0.0.1",
        port,
        use_aiofastnet=transports == "aiofastnet",
        websocket_handshake_timeout=30,
        read_buffer_init_size=read_buffer_bytes,
    )
    async with server:
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]),
            sys.argv[2] if len(sys.argv) > 2 else "asyncio",
            int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_READ_BUFFER_BYTES,
        )
    )
