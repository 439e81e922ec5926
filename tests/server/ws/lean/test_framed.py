"""A fanned-out text is framed once: every socket writes the same bytes."""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from server.ws.lean.framed import FramedTexts


def test_the_same_text_object_is_framed_once() -> None:
    framed = FramedTexts()
    text = '{"type":"change","seq":1}'
    first = framed.of(text)
    assert framed.of(text) is first
    assert first == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_another_text_is_framed_anew_whatever_its_size() -> None:
    framed = FramedTexts()
    framed.of("a")
    large = "é" * 70_000  # past the 16-bit length: the 64-bit length form
    data = framed.of(large)
    assert data[1] == 127 and int.from_bytes(data[2:10], "big") == len(large.encode())
    assert data.endswith(large.encode())
