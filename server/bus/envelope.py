"""Feed messages on the bus: ``b"<epoch> <seq>\\n"`` followed by the encoded frame.

The header lets a session order and de-duplicate pushes without decoding the frame.
"""

from __future__ import annotations


def pack(epoch: int, seq: int, frame: bytes) -> bytes:
    return b"%d %d\n" % (epoch, seq) + frame


def unpack(payload: bytes) -> tuple[int, int, bytes]:
    header, _, frame = payload.partition(b"\n")
    epoch, seq = header.split(b" ")
    return int(epoch), int(seq), frame
