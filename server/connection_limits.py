"""Connection-level limits for uvicorn: slow or silent clients cannot hold the server.

uvicorn times out an idle keep-alive connection, but not a new connection that sends
nothing, nor one that sends half a request's headers and stops (slowloris): both stay
open for as long as the client likes. :class:`HeaderDeadlineProtocol` gives every request
a deadline for its headers, from the moment the connection opens or the next request's
first byte arrives; a client that misses it is disconnected. With a cap on concurrent
connections (503 beyond it) and small header limits, a few hundred slow clients can no
longer fill the file table and lock phones out.

The header limit is per request: the parser's own callbacks count each request's target
and header fields as it reads them, so a request over the limit is refused however its
bytes arrive (dribbled over many reads, in one large write, or pipelined behind another
request); and the reads that leave a request's headers incomplete are counted too, so a
single header the parser is still buffering cannot grow past the limit either.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.websocket_protocol import LenientTextWebSocketProtocol
from server.ws.lean.layer import LeanLayer

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_KEEP_ALIVE_TIMEOUT_S = 5.0
DEFAULT_MAX_CONNECTIONS = 16_384
DEFAULT_WS_PING_INTERVAL_S = 60.0
DEFAULT_WS_PING_TIMEOUT_S = 20.0
MAX_HEADER_BYTES = 32 * 1024
"""Request line plus headers, per request; more gets 431 and the connection is closed."""
_HEADER_LINE_OVERHEAD = len(b": \r\n")
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 5\r\n"
    b"content-length: 28\r\nconnection: close\r\n\r\ntoo many connections; retry\n"
)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 26\r\nconnection: close\r\n\r\nrequest headers too large\n"
)


class _HeadersTooLarge(Exception):
    """Raised in a parser callback to stop reading a request whose headers are over the limit."""


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers do not arrive in time
    and refusing requests whose headers are over :data:`MAX_HEADER_BYTES`."""

    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0
    """Bytes of the reads that left the current request's headers incomplete."""
    _head_bytes = 0
    """The current request's target and header fields, as the parser hands them over."""
    _headers_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) > limit:
            # uvicorn only refuses HTTP requests over the cap; a new connection of any kind
            # (a WebSocket upgrade too) is refused here, before it holds anything.
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._headers_too_large:
            return  # refused: only the answers still owed to earlier requests go out
        if self._header_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on a kept-alive connection
        counting = self._header_deadline is not None
        super().data_received(data)
        if counting and self._header_deadline is not None:  # the headers are still incomplete
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse_headers()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        if self._header_deadline is None:
            self._arm()  # a request pipelined behind one still being answered
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + _HEADER_LINE_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()  # also before a WebSocket upgrade hands the transport over
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; the error a callback raised for the header
        limit is answered 431 instead."""
        if self._headers_too_large:
            self._refuse_headers()
        else:
            super().send_400_response(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    device_sockets: LeanLayer | None = None
    """The node's lean device-socket layer, which answers its path's upgrades itself."""

    def handle_websocket_upgrade(self) -> None:
        layer = self.device_sockets
        if layer is not None and layer.answers(self.url):
            self.connections.discard(self)
            layer.upgrade(self.url, self.scope["headers"], self.transport, self.connections)
            return
        super().handle_websocket_upgrade()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEADER_BYTES:
            self._headers_too_large = True
            raise _HeadersTooLarge  # the parser stops here; uvicorn calls send_400_response

    def _refuse_headers(self) -> None:
        """Answer 431 and close; or, while earlier pipelined requests are still being
        answered (answers go out in order), let them finish and close after the last one:
        the client retries the unanswered request on a new connection and gets its 431."""
        self._headers_too_large = True
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # the newest request read; it closes the connection
            self.flow.pause_reading()
            return
        self.transport.write(_TOO_LARGE)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_limits(
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
    keep_alive_timeout_s: float = DEFAULT_KEEP_ALIVE_TIMEOUT_S,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ws_ping_interval_s: float = DEFAULT_WS_PING_INTERVAL_S,
    ws_ping_timeout_s: float = DEFAULT_WS_PING_TIMEOUT_S,
    device_sockets: LeanLayer | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: timeouts (WebSocket keepalive included), the
    connection cap, header limits (ours for httptools, h11's own), no ``Server`` header
    naming the stack, and the WebSocket protocol that hands non-UTF-8 text to the app;
    with ``device_sockets``, device socket upgrades go to that lean layer instead."""
    protocol = type(
        "HeaderDeadline",
        (HeaderDeadlineProtocol,),
        {"header_timeout_s": header_timeout_s, "device_sockets": device_sockets},
    )
    return {
        "http": protocol,
        "ws": LenientTextWebSocketProtocol,
        "timeout_keep_alive": max(1, round(keep_alive_timeout_s)),
        "limit_concurrency": max_connections if max_connections > 0 else None,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "server_header": False,
        "ws_ping_interval": ws_ping_interval_s if ws_ping_interval_s > 0 else None,
        "ws_ping_timeout": ws_ping_timeout_s if ws_ping_interval_s > 0 else None,
    }
