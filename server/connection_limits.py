"""Connection-level limits for uvicorn: slow or silent clients cannot hold the server.

uvicorn times out an idle keep-alive connection, but not a new connection that sends
nothing, nor one that sends half a request's headers and stops (slowloris): both stay
open for as long as the client likes. :class:`HeaderDeadlineProtocol` gives every request
a deadline for its headers, from the moment the connection opens or the next request's
first byte arrives; a client that misses it is disconnected. With a cap on concurrent
connections (503 beyond it) and small header limits, a few hundred slow clients can no
longer fill the file table and lock phones out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_KEEP_ALIVE_TIMEOUT_S = 5.0
DEFAULT_MAX_CONNECTIONS = 16_384
DEFAULT_WS_PING_INTERVAL_S = 60.0
DEFAULT_WS_PING_TIMEOUT_S = 20.0
MAX_HEADER_BYTES = 32 * 1024
"""Request line plus headers; more gets 431 and the connection is closed."""
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 5\r\n"
    b"content-length: 28\r\nconnection: close\r\n\r\ntoo many connections; retry\n"
)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 26\r\nconnection: close\r\n\r\nrequest headers too large\n"
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers do not arrive in time."""

    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0

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
        if self._header_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self._header_deadline is not None:  # the headers are still incomplete
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._disarm()
                self.transport.write(_TOO_LARGE)
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()  # also before a WebSocket upgrade hands the transport over
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: timeouts (WebSocket keepalive included), the
    connection cap, header limits (ours for httptools, h11's own), and no ``Server`` header
    naming the stack."""
    protocol = type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
    return {
        "http": protocol,
        "timeout_keep_alive": max(1, round(keep_alive_timeout_s)),
        "limit_concurrency": max_connections if max_connections > 0 else None,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "server_header": False,
        "ws_ping_interval": ws_ping_interval_s if ws_ping_interval_s > 0 else None,
        "ws_ping_timeout": ws_ping_timeout_s if ws_ping_interval_s > 0 else None,
    }
