from __future__ import annotations

import pytest

from protocol.codec import decode_console_client_frame, decode_device_frame
from protocol.errors import ErrorCode, ProtocolError
from protocol.request_id import REQUEST_ID_WITHIN_BYTES, find_request_id

DEEP = b"[" * 100_000 + b"]" * 100_000


def _id_ending_at(size: int) -> bytes:
    """A frame whose request_id ends (its closing quote) at byte ``size``."""
    head, member = b'{"type": "sync_request", "pad": "', b'", "request_id": "r7"'
    return head + b"x" * (size - len(head) - len(member)) + member + b"}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"request_id": "r1"}', "r1"),
        (b' \n{ "type" : "sync_request" , "request_id" : "r1" }', "r1"),
        (b'{"type": "sync_request", "mutations": ' + b"[" * 400 + b"]" * 400 + b', "request_id": "r2"}', "r2"),
        (b'{"type": "sync_request", "request_id": "r2", "mutations": ' + DEEP + b"}", "r2"),
        (_id_ending_at(REQUEST_ID_WITHIN_BYTES), "r7"),
        (b'{"a": {"b": "}]\\"{", "c": [1, {"d": null}]}, "n": -1.5e3, "t": true, "request_id": "r3"}', "r3"),
        (b'{"request\\u005fid": "r\\u00e9"}', "r\u00e9"),
        (b'{"request_id": "r4", "data": ' + b"[" * 100_000, "r4"),  # malformed after the id
        (b'{"request_id": "r5", "x": "\xff"}', "r5"),  # not UTF-8 after the id
        (b'{"request_id": "r6", "request_id": "other"}', "r6"),  # the first one decides
    ],
)
def test_a_top_level_request_id_is_found(raw: bytes, expected: str) -> None:
    assert find_request_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'"request_id"',
        b'[{"request_id": "r1"}]',
        b'{"nested": {"request_id": "r1"}}',
        b'{"request_id": 5}',
        b'{"request_id": null}',
        b'{"request_id": ""}',
        b'{"request_id": "' + b"x" * 65 + b'"}',
        b'{"request_id": "a\\u0000b"}',
        b'{"request_id": "\xff"}',
        b'{"request_id": "r1',
        b'{"data": ' + b"[" * 100_000 + b', "request_id": "r1"}',  # never closed: unreadable
        b'{"data": ' + DEEP + b', "request_id": "r1"}',  # beyond the bytes that are read
        _id_ending_at(REQUEST_ID_WITHIN_BYTES + 1),  # ends just beyond them
        b'{"a" 1, "request_id": "r1"}',
        b'{"a": 1 "request_id": "r1"}',
        b'{"a": }, "request_id": "r1"}',
        b'{"a": "unterminated, "request_id": "r1"}',
        b'{"a": {"b": "unterminated}, "request_id": "r1"}',  # a string inside a skipped object
    ],
)
def test_no_request_id_is_made_up(raw: bytes) -> None:
    assert find_request_id(raw) is None


def test_a_frame_nested_too_deeply_is_answered_with_its_request_id() -> None:
    form = (
        b'{"type": "sync_request", "request_id": "deep-1", "mutations": [{"kind": "form_submission", '
        b'"data": {"x": ' + DEEP + b"}}]}"
    )
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(form)
    assert (caught.value.code, caught.value.request_id) == (ErrorCode.INVALID_FRAME, "deep-1")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"type": "sync_request", "request_id": "r1", "mutations": ' + DEEP + b"}", ErrorCode.INVALID_FRAME),
        (b'{"type": "sync_request", "request_id": "r1", "mutations": "no"}', ErrorCode.INVALID_FRAME),
        (b'{"type": "teleport", "request_id": "r1"}', ErrorCode.UNKNOWN_FRAME_TYPE),
        (b'{"type": "sync_request", "request_id": "r1", "x": "\\u0000"}', ErrorCode.INVALID_FRAME),
        (b'{"type": "sync_request", "request_id": "r1", "mutations": [}', ErrorCode.MALFORMED_FRAME),
        (b'{"type": "sync_request", "request_id": "r1", "note": "\xff"}', ErrorCode.MALFORMED_FRAME),
    ],
)
def test_every_frame_error_carries_the_request_id_it_can_read(raw: bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(raw)
    assert (caught.value.code, caught.value.request_id) == (code, "r1")
    with pytest.raises(ProtocolError) as caught:  # the console's frames are decoded the same way
        decode_console_client_frame(raw)
    assert caught.value.request_id == "r1"
