"""The proxy's frame reader: whole frames out of bytes that arrive in any pieces."""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from server.conformance.wire import FrameReader, is_websocket_upgrade, text_frame


def test_frames_split_across_reads_come_out_whole_and_in_order() -> None:
    stream = text_frame('{"type":"ack"}', masked=True) + Frame(Opcode.PING, b"p").serialize(mask=True)
    stream += text_frame("x" * 70000, masked=True)
    reader = FrameReader(masked=True)
    frames: list[Frame] = []
    for start in range(0, len(stream), 7):
        frames += reader.feed(stream[start : start + 7])
    assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.PING, Opcode.TEXT]
    assert bytes(frames[0].data) == b'{"type":"ack"}'
    assert len(frames[2].data) == 70000


def test_only_an_upgrade_request_is_a_websocket() -> None:
    assert is_websocket_upgrade(b"GET /ws/device HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    assert not is_websocket_upgrade(b"POST /api/v1/device/sync HTTP/1.1\r\nHost: x\r\n\r\n")
