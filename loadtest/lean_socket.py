"""A lean WebSocket client: websockets' sans-I/O ``ClientProtocol`` over a plain
``asyncio.Protocol``, so one process can hold thousands of device sockets cheaply.

:meth:`LeanSocket.open` either returns an open socket or raises :class:`ConnectFailed`
with a short reason; a socket that never opened is not reported as closed. Once open,
``on_close`` is called exactly once, with the close code (1006 when the connection ended
without a close frame) and how it ended (:class:`CloseInfo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

OPEN_TIMEOUT_S = 30.0
"""The whole open (TCP connect and the WebSocket handshake): long enough for a SYN the
server's full accept queue dropped to be retried a few times (1 s, 3 s, 7 s, 15 s)."""

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
"""Linux: bind() keeps only the address and the port is chosen at connect(), per
destination, so a source address is not limited by ports other destinations hold."""


class ConnectFailed(ConnectionError):
    """The socket never opened; ``reason`` is a short word for the report."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class CloseInfo:
    """How an open socket ended."""

    code: int
    how: str
    """``close_frame`` (the server's close frame arrived), ``dropped`` (this device dropped
    it on purpose), ``close_unanswered`` (this device sent a close frame and got none back),
    ``eof`` (the peer ended the TCP connection with no close frame), ``reset`` (the peer
    reset it) or ``error`` (any other error on the connection)."""
    open_s: float
    """Seconds from the handshake's end to the close."""


class LeanSocket(asyncio.Protocol):
    """Calls ``on_text`` for each text message and ``on_close`` once the open socket ends."""

    def __init__(self, url: str, on_text: Callable[[str], None], on_close: Callable[[CloseInfo], None]) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=8 * 1024 * 1024)
        self.on_text = on_text
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened_at = 0.0
        self._closed = False
        self._dropped = False

    @classmethod
    async def open(
        cls,
        url: str,
        on_text: Callable[[str], None],
        on_close: Callable[[CloseInfo], None],
        timeout: float = OPEN_TIMEOUT_S,
        source_address: str | None = None,
    ) -> LeanSocket:
        """Connect (from ``source_address`` when given) and complete the handshake within
        ``timeout``; on failure nothing is left open and :class:`ConnectFailed` is raised."""
        parsed = parse_uri(url)
        loop = asyncio.get_running_loop()
        transport: asyncio.Transport | None = None
        protocol: LeanSocket | None = None
        try:
            async with asyncio.timeout(timeout):
                if source_address is None:
                    transport, protocol = await loop.create_connection(
                        lambda: cls(url, on_text, on_close), parsed.host, parsed.port
                    )
                else:
                    sock = await _connected_from(source_address, parsed.host, parsed.port)
                    transport, protocol = await loop.create_connection(lambda: cls(url, on_text, on_close), sock=sock)
                await protocol.opened
        except BaseException as exc:
            if protocol is not None:
                protocol._closed = True  # never opened: no on_close for it
            if transport is not None:
                transport.abort()
            if isinstance(exc, TimeoutError):
                raise ConnectFailed("timeout", f"not open within {timeout:g} s") from None
            if isinstance(exc, OSError) and not isinstance(exc, ConnectFailed):
                raise ConnectFailed(_os_reason(exc), str(exc)) from None
            raise
        protocol.opened_at = time.monotonic()
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if not self.opened.done():
                    if event.status_code == 101:
                        self.opened.set_result(None)
                    else:
                        self.opened.set_exception(ConnectFailed(f"http_{event.status_code}", "handshake refused"))
            elif isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                self.on_text(bytes(event.data).decode())
        self._flush()
        if self.ws.close_expected() and self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None  # the transport closes itself

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.write_eof() if self.transport.can_write_eof() else None

    def send(self, text: str) -> None:
        """Send a text message; nothing once a close frame was sent or received (an ack for a
        change that arrived just before the server's close frame goes nowhere)."""
        if self._closed or self.transport is None or self.transport.is_closing() or self.ws.state is not State.OPEN:
            return
        self.ws.send_text(text.encode())
        self._flush()

    def pause_reading(self) -> None:
        """Stop reading (a slow phone): the server's send queue for us fills up."""
        if self.transport is not None:
            self.transport.pause_reading()

    def abort(self) -> None:
        """Drop the connection without a close handshake (signal lost)."""
        if self.transport is not None:
            self._dropped = True
            self.transport.abort()

    def close(self) -> None:
        """Start the close handshake (nothing if one is under way or the socket is gone)."""
        if self._closed or self.transport is None or self.transport.is_closing() or self.ws.state is not State.OPEN:
            return
        self.ws.send_close()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            reason = "reset" if isinstance(exc, ConnectionResetError) else "closed"
            self.opened.set_exception(ConnectFailed(reason, f"during the handshake: {exc or 'end of stream'}"))
            return
        if self._closed:
            return
        self._closed = True
        # The server's code even when this side ended the TCP connection before the
        # server's end of stream (websockets' close_code stays None until then).
        code = self.ws.close_rcvd.code if self.ws.close_rcvd is not None else 1006
        if self.ws.close_rcvd is not None:
            how = "close_frame"
        elif self._dropped:
            how = "dropped"
        elif self.ws.close_sent is not None:
            how = "close_unanswered"
        elif exc is None:
            how = "eof"
        elif isinstance(exc, ConnectionResetError):
            how = "reset"
        else:
            how = "error"
        self.on_close(CloseInfo(code=int(code), how=how, open_s=time.monotonic() - self.opened_at))


async def _connected_from(source_address: str, host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to ``source_address`` and connected to host:port."""
    loop = asyncio.get_running_loop()
    try:
        destination = (str(ipaddress.IPv4Address(host)), port)
    except ValueError:  # a name: resolved (in a thread) on every attempt
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
        destination = (str(infos[0][4][0]), port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # not Linux: bind() picks the port
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source_address, 0))
        await loop.sock_connect(sock, destination)
    except BaseException:
        sock.close()
        raise
    return sock


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EADDRINUSE):
        return "no_local_port"
    if exc.errno == errno.EMFILE:
        return "too_many_open_files"
    return errno.errorcode.get(exc.errno or 0, "os_error").lower()
