"""Encoding and one-pass decoding of frames, mapping every failure to a stable code."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from protocol import MAX_FRAME_BYTES
from protocol.console import ConsoleEvent, ConsoleHello, ConsoleWelcome
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import DeviceFrame, Error, Heartbeat, ServerFrame
from protocol.request_id import find_request_id
from protocol.time_text import fixed_width_times

T = TypeVar("T")

_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""A JSON ``\\u0000`` escape that is not itself an escaped backslash followed by ``u0000``.
SQL text columns cannot hold U+0000, so no frame may carry it (checked on the raw bytes:
far cheaper than a pattern on every string)."""

ConsoleClientFrame = ConsoleHello | Heartbeat
ConsoleServerFrame = ConsoleWelcome | ConsoleEvent | Heartbeat | Error

_encoder = msgspec.json.Encoder()
_device_decoder = msgspec.json.Decoder(DeviceFrame)
_server_decoder = msgspec.json.Decoder(ServerFrame)
_console_client_decoder = msgspec.json.Decoder(ConsoleClientFrame)
_console_server_decoder = msgspec.json.Decoder(ConsoleServerFrame)


def encode(value: object) -> bytes:
    """Encode a frame, or any body the server sends, to its JSON bytes (UTF-8). Encode
    once, send the bytes to many.

    Every time is written in the one fixed-width form (:mod:`protocol.time_text`):
    ``2026-11-26T09:30:00.000Z``.
    """
    return fixed_width_times(_encoder.encode(value))


def decode_device_frame(data: bytes | str) -> DeviceFrame:
    """Decode and validate a frame sent by a device; raise :class:`ProtocolError`."""
    result: DeviceFrame = _decode(_device_decoder, data)
    return result


def decode_server_frame(data: bytes | str) -> ServerFrame:
    """Decode and validate a frame sent by the server; raise :class:`ProtocolError`."""
    result: ServerFrame = _decode(_server_decoder, data)
    return result


def decode_console_client_frame(data: bytes | str) -> ConsoleClientFrame:
    """Decode a frame sent by an office console; raise :class:`ProtocolError`."""
    result: ConsoleClientFrame = _decode(_console_client_decoder, data)
    return result


def decode_console_server_frame(data: bytes | str) -> ConsoleServerFrame:
    """Decode a frame sent by the server on the console feed; raise :class:`ProtocolError`."""
    result: ConsoleServerFrame = _decode(_console_server_decoder, data)
    return result


_body_decoders: dict[type, msgspec.json.Decoder] = {}  # type: ignore[type-arg]


def decode_as(kind: type[T], data: bytes | str) -> T:
    """Decode any wire body (an HTTP request, a frame) as ``kind``, with the frame error codes."""
    decoder = _body_decoders.get(kind)
    if decoder is None:
        decoder = _body_decoders[kind] = msgspec.json.Decoder(kind)
    result: T = _decode(decoder, data)
    return result


def _decode(decoder: msgspec.json.Decoder, data: bytes | str):  # type: ignore[no-untyped-def,type-arg]
    """Decode with ``decoder``; every failure, whatever the input, is a :class:`ProtocolError`
    carrying the frame's ``request_id`` when one can be read (:mod:`protocol.request_id`)."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"frame of {len(raw)} bytes exceeds the limit of {MAX_FRAME_BYTES}",
        )
    if b"\\u0000" in raw and _NUL_ESCAPE.search(raw):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "strings must not contain U+0000", find_request_id(raw))
    try:
        if not raw.isascii():
            raw.decode()  # msgspec checks only the strings it keeps, not those it skips
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        message = str(exc)
        code = ErrorCode.INVALID_FRAME
        if "`$.type`" in message or "missing required field `type`" in message:
            code = ErrorCode.UNKNOWN_FRAME_TYPE
        raise ProtocolError(code, message, find_request_id(raw)) from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"not valid JSON: {exc}", find_request_id(raw)) from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"not UTF-8: {exc.reason}", find_request_id(raw)) from exc
    except RecursionError as exc:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "frame nested too deeply", find_request_id(raw)) from exc
