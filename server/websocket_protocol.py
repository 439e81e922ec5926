"""The WebSocket protocol for uvicorn: text messages that are not UTF-8 reach the app, and
a peer that floods past the server's close frame is cut off.

uvicorn's websockets (sans-I/O) protocol decodes each text message itself; one that is not
UTF-8 is logged as an ERROR with a traceback and the socket is closed with 1007. The
protocol (docs/protocol.md, section 7.1) answers such a frame with ``malformed_frame`` and
keeps the socket open, so :class:`LenientTextWebSocketProtocol` hands it to the app as
bytes instead, where the frame decoder refuses it like any other frame it cannot read.

What a peer sends is parsed only as fast as the app reads it. uvicorn parses each read
(up to 256 KiB, some 8,000 small frames) whole and queues every message for the app; a
socket closed for flooding after its first hundred frames would still have cost the node
the parsing of thousands. Here a read is parsed in slices of :data:`PARSE_SLICE_BYTES`
while fewer than :data:`PARSE_AHEAD_MESSAGES` messages wait for the app; the rest waits,
unparsed, with reading paused, until the app has taken them. Once the server has sent its
close frame, uvicorn reads on for up to 10 s waiting for the peer's reply, parsing and
discarding what arrives; past :data:`MESSAGES_AFTER_CLOSE` messages or
:data:`READ_AFTER_CLOSE_BYTES` bytes the connection is dropped without the reply (a peer
flooding on is not reading the close; one that was sending a large frame still finishes it
and gets to answer).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from protocol import MAX_FRAME_BYTES

PARSE_SLICE_BYTES = 4096
PARSE_AHEAD_MESSAGES = 16
"""Messages parsed ahead of the app at most (plus what one slice holds)."""
MESSAGES_AFTER_CLOSE = 16
READ_AFTER_CLOSE_BYTES = 2 * MAX_FRAME_BYTES
"""Messages, and bytes, a peer may send after the server's close frame before the
connection is dropped."""


class LenientTextWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, passing undecodable text messages on as bytes."""

    _read_after_close = 0
    _messages_after_close = 0
    _unparsed: bytearray | None = None
    """Bytes read but not parsed yet (the app has not taken what was parsed before them)."""

    def data_received(self, data: bytes) -> None:
        if self.close_sent:
            self._read_after_close += len(data)
            if self._read_after_close > READ_AFTER_CLOSE_BYTES:
                self.transport.close()  # reads no more: the peer is not answering the close
                return
        if self._unparsed is None:
            self._unparsed = bytearray()
        self._unparsed += data
        self._parse_some()

    def connection_lost(self, exc: Exception | None) -> None:
        """A closed connection keeps nothing it was sent: its unparsed bytes go, and so do
        the messages still queued once the app is past its close (it reads no more)."""
        self._unparsed = None
        if self.close_sent:
            while not self.queue.empty():
                self.queue.get_nowait()
        super().connection_lost(exc)

    async def receive(self) -> Any:
        message = await super().receive()
        if self._unparsed:
            self._parse_some()
        return message

    def _parse_some(self) -> None:
        """Parse what was read, a slice at a time, while the app has few messages waiting."""
        unparsed = self._unparsed
        if unparsed is None:
            return
        while unparsed and not self.transport.is_closing():
            if self.queue.qsize() >= PARSE_AHEAD_MESSAGES and not self.close_sent:
                if not self.read_paused:
                    self.read_paused = True
                    self.transport.pause_reading()
                return
            piece = bytes(unparsed[:PARSE_SLICE_BYTES])
            del unparsed[:PARSE_SLICE_BYTES]
            super().data_received(piece)

    def send_receive_event_to_app(self) -> None:
        if self.close_sent:  # discarded by uvicorn; a peer that keeps sending is cut off
            self._messages_after_close += 1
            if self._messages_after_close > MESSAGES_AFTER_CLOSE:
                self.transport.close()
        if self.curr_msg_data_type == "text" and not _is_utf8(self.frames):
            self.curr_msg_data_type = "bytes"
        super().send_receive_event_to_app()


def _is_utf8(fragments: list[bytes]) -> bool:
    data = fragments[0] if len(fragments) == 1 else b"".join(fragments)
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
