"""The lean device-socket layer of one node: ``/ws/device`` upgrades answered without ASGI.

uvicorn's HTTP protocol parses the upgrade request; for the device path it hands the
request and the transport here (:class:`server.connection_limits.HeaderDeadlineProtocol`)
instead of to its own WebSocket protocol and the ASGI app. Here the Host header is
checked as the app checks it (400 naming the setting), websockets' sans-I/O
``ServerProtocol`` answers the handshake (400/426 for a request that is not a valid
upgrade), and the transport is given to a :class:`DeviceConnection`. The handshake's
request and response are not kept. The console socket and every other path are
uvicorn's as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from protocol import MAX_FRAME_BYTES
from server.api.host_guard import REFUSAL, HostCheck
from server.observability.requests import request_id_of
from server.ws.context import SocketContext
from server.ws.device_socket import DeviceSocket
from server.ws.lean.connection import DeviceConnection
from server.ws.lean.shared import LeanSettings, Shared
from server.ws.paths import DEVICE_SOCKET_PATH
from server.ws.wire import Wire

MAX_MESSAGE_BYTES = 4 * MAX_FRAME_BYTES
"""Messages up to this are read whole and refused ``frame_too_large`` (4103) past
``MAX_FRAME_BYTES``; larger ones are cut off by the protocol (1009), as uvicorn's
``ws_max_size`` does for the console."""

_REFUSED_HOST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
    + str(len(REFUSAL.encode())).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + REFUSAL.encode()
)


def frames_after_handshake(protocol: ServerProtocol) -> ServerProtocol:
    """``protocol``, reading frames from the start: the request it would read first was
    read by uvicorn (its limits and header deadline applied) and is given to
    :meth:`ServerProtocol.accept` as built here. Its own request parser would keep the
    request, headers and all, alive in its generator for the life of the connection."""
    protocol.parser = Protocol.parse(protocol)
    next(protocol.parser)
    return protocol


class LeanLayer:
    """Answers ``/ws/device`` upgrades for ``node`` and holds what its connections share."""

    path = DEVICE_SOCKET_PATH

    def __init__(self, node: SocketContext) -> None:
        self.node = node
        self.shared = Shared(LeanSettings.of(node.settings))
        self.host_check = HostCheck(node.settings.allowed_hosts or ["127.0.0.1"])

    def answers(self, target: bytes) -> bool:
        """Whether an upgrade to ``target`` (the request target, query included) is ours."""
        path = target.partition(b"?")[0].decode("latin-1")
        return (unquote(path) if "%" in path else path) == self.path

    def upgrade(
        self, target: bytes, headers: Iterable[tuple[bytes, bytes]], transport: asyncio.Transport, connections: set[Any]
    ) -> None:
        """Answer the upgrade request on ``transport`` and serve the device socket on it."""
        headers = list(headers)
        if not self.host_check.allows(headers):
            transport.write(_REFUSED_HOST)
            transport.close()
            return
        protocol = frames_after_handshake(ServerProtocol(max_size=MAX_MESSAGE_BYTES))
        fields = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)
        request = Request(target.decode("latin-1"), fields)
        response = protocol.accept(request)
        protocol.send_response(response)
        transport.write(b"".join(protocol.data_to_send()))
        if response.status_code != 101:
            transport.close()
            return
        node = self.node

        def device_socket(wire: Wire) -> DeviceSocket:
            return DeviceSocket(wire, node)

        connection = DeviceConnection(self.shared, protocol, transport, request_id_of(headers), device_socket)
        self.shared.connections = connections
        connections.add(connection)
        transport.set_protocol(connection)
        connection.opened()
