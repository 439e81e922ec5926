"""Reading a frame's ``request_id`` when the frame itself cannot be decoded.

An ``error`` frame names the request it answers (docs/protocol.md, section 7.1), also when
that request was not a valid frame: nested too deeply for the decoder, a field of the wrong
type, not valid JSON further on. The id "can be read" when the frame is a JSON object and,
reading its top-level members in order, the first one named ``request_id`` is reached
before anything unreadable, ends within the frame's first :data:`REQUEST_ID_WITHIN_BYTES`,
and holds a string that is a valid id (1 to 64 characters, no U+0000). Members before it
are skipped, not checked: a bracket count, with no recursion, so no nesting is too deep.
Only the first bytes are read so that a frame built to be slow to skip (a quarter of a
megabyte of brackets) costs no more than a small one: the scan is a Python loop, far
slower per byte than the decoder it stands in for.
"""

from __future__ import annotations

import re

import msgspec

from protocol.limits import MAX_ID_CHARS

REQUEST_ID_WITHIN_BYTES = 1024
"""How far into a frame its ``request_id`` is looked for (it is sent first or nearly so)."""

_SPACE = re.compile(rb"[ \t\r\n]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(rb"[^\s,:\[\]{}\"]+")
_NESTED = re.compile(rb'["\[\]{}]')
_OPENERS = frozenset(b"[{")


def find_request_id(raw: bytes) -> str | None:
    """The frame's top-level ``request_id``, if it can be read (see the module's docstring)."""
    raw = raw[:REQUEST_ID_WITHIN_BYTES]
    at = _skip_space(raw, 0)
    if raw[at : at + 1] != b"{":
        return None
    at = _skip_space(raw, at + 1)
    while (key := _STRING.match(raw, at)) is not None:
        name = _text_of(key.group())
        at = _skip_space(raw, key.end())
        if name is None or raw[at : at + 1] != b":":
            return None
        at = _skip_space(raw, at + 1)
        if name == "request_id":
            value = _STRING.match(raw, at)
            return _id_of(value.group()) if value is not None else None
        end = _end_of_value(raw, at)
        if end is None:
            return None
        at = _skip_space(raw, end)
        if raw[at : at + 1] != b",":
            return None
        at = _skip_space(raw, at + 1)
    return None


def _skip_space(raw: bytes, at: int) -> int:
    match = _SPACE.match(raw, at)
    return match.end() if match is not None else at


def _text_of(token: bytes) -> str | None:
    """A JSON string token as text, escapes resolved; None if it is not valid UTF-8 or JSON."""
    try:
        text: str = msgspec.json.decode(token, type=str)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None
    return text


def _id_of(token: bytes) -> str | None:
    text = _text_of(token)
    if text is None or not 1 <= len(text) <= MAX_ID_CHARS or "\x00" in text:
        return None
    return text


def _end_of_value(raw: bytes, at: int) -> int | None:
    """Where the value starting at ``at`` ends: a string, a scalar, or an array or object
    skipped by counting brackets outside strings."""
    string = _STRING.match(raw, at)
    if string is not None:
        return string.end()
    if raw[at : at + 1] not in (b"[", b"{"):
        scalar = _SCALAR.match(raw, at)
        return scalar.end() if scalar is not None else None
    depth = 0
    while (mark := _NESTED.search(raw, at)) is not None:
        at = mark.start()
        if raw[at] == ord('"'):
            string = _STRING.match(raw, at)
            if string is None:
                return None
            at = string.end()
            continue
        depth += 1 if raw[at] in _OPENERS else -1
        at += 1
        if depth == 0:
            return at
    return None
