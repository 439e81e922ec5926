"""Reading a frame's routing fields without decoding all of it: its ``type`` and, for a
``change``, its position and commit time (what the server's socket metrics need from every
frame a fan-out sends, once per frame text). Unknown and undecodable input gives nothing."""

from __future__ import annotations

import msgspec

from protocol import console, frames
from protocol.frames import Time


class FrameType(msgspec.Struct):
    type: str = ""


class ChangeHeader(msgspec.Struct, frozen=True):
    """A ``change`` frame's feed, position and commit time (its payload is skipped)."""

    type: str
    feed: str
    epoch: int
    seq: int
    committed_at: Time


_type_decoder = msgspec.json.Decoder(FrameType)
_change_decoder = msgspec.json.Decoder(ChangeHeader)


def frame_type(raw: str | bytes) -> str | None:
    """The frame's ``type``, or None when it names none or is not a JSON object."""
    try:
        found = _type_decoder.decode(raw).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return found or None


def change_header(raw: str | bytes) -> ChangeHeader | None:
    """The header of a ``change`` frame; None for any other frame or undecodable input."""
    try:
        header = _change_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return header if header.type == "change" else None


def _frame_types() -> frozenset[str]:
    """Every ``type`` a frame of this protocol version can carry (device, server, console)."""
    found: set[str] = set()
    for module in (frames, console):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct):
                config = value.__struct_config__
                if config.tag_field == "type" and isinstance(config.tag, str):
                    found.add(config.tag)
    return frozenset(found)


FRAME_TYPES = _frame_types()
"""The frame types this protocol version knows: anything else is reported as ``other``, so
what a peer writes in ``type`` never becomes a new metric label."""
