"""Reading and writing WebSocket frames on a byte stream the proxy relays (RFC 6455).

The proxy sees raw TCP: first an HTTP upgrade in each direction, then frames. Frames are
parsed with the ``websockets`` sans-I/O frame parser and written back whole, so the proxy
can drop, duplicate, rewrite or inject frames only ever at a frame boundary.
"""

from __future__ import annotations

from collections.abc import Generator

from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

HEADER_END = b"\r\n\r\n"


class FrameReader:
    """Frames out of a byte stream, one direction of one connection."""

    def __init__(self, *, masked: bool) -> None:
        self.masked = masked
        self._reader = StreamReader()
        self._parser = self._new_parser()

    def _new_parser(self) -> Generator[None, None, Frame]:
        return Frame.parse(self._reader.read_exact, mask=self.masked, max_size=None)

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return every frame they completed (raises ``ProtocolError`` on junk)."""
        self._reader.feed_data(data)
        frames: list[Frame] = []
        while True:
            try:
                next(self._parser)
            except StopIteration as done:
                frames.append(done.value)
                self._parser = self._new_parser()
                continue
            return frames


def text_frame(text: str, *, masked: bool) -> bytes:
    """A whole text frame holding ``text``."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=masked)


def is_websocket_upgrade(request_head: bytes) -> bool:
    """Whether an HTTP request head asks for a WebSocket (else it is a plain HTTP call)."""
    return b"upgrade: websocket" in request_head.lower()
