"""A lean WebSocket client: websockets' sans-I/O ``ClientProtocol`` over a plain
``asyncio.Protocol``, so one process can hold thousands of device sockets cheaply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class LeanSocket(asyncio.Protocol):
    """Calls ``on_text`` for each text message and ``on_close`` once with the close code."""

    def __init__(self, url: str, on_text: Callable[[str], None], on_close: Callable[[int], None]) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=8 * 1024 * 1024)
        self.on_text = on_text
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, on_text: Callable[[str], None], on_close: Callable[[int], None], timeout: float = 30.0
    ) -> LeanSocket:
        parsed = parse_uri(url)
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: cls(url, on_text, on_close), parsed.host, parsed.port), timeout
        )
        await asyncio.wait_for(protocol.opened, timeout)
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
                        self.opened.set_exception(ConnectionError(f"handshake refused: {event.status_code}"))
            elif isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                self.on_text(bytes(event.data).decode())
        self._flush()
        if self.ws.close_expected() and self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.write_eof() if self.transport.can_write_eof() else None

    def send(self, text: str) -> None:
        if self._closed or self.transport is None or self.transport.is_closing():
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
            self.transport.abort()

    def close(self) -> None:
        if not self._closed and self.transport is not None and not self.transport.is_closing():
            self.ws.send_close()
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(str(exc or "closed during handshake")))
        if not self._closed:
            self._closed = True
            code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.on_close(int(code))
