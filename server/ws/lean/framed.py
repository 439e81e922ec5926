"""Text frames framed once for every socket that sends them."""

from __future__ import annotations

from websockets.frames import Frame, Opcode


class FramedTexts:
    """The RFC 6455 bytes of a text frame as a server sends it (unmasked, no extension).

    A fan-out hands every socket the same text object, so the last one framed is
    remembered and its bytes are written to every transport: framing costs once per
    change, not once per device.
    """

    __slots__ = ("_framed", "_text")

    def __init__(self) -> None:
        self._text: str | None = None
        self._framed = b""

    def of(self, text: str) -> bytes:
        if text is self._text:
            return self._framed
        framed = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
        self._text, self._framed = text, framed
        return framed
