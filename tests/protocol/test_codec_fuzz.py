"""Property-based tests of the device frame decoder: whatever arrives, the decoder either
returns a frame the server can use as is or raises :class:`ProtocolError` with a stable
code. Nothing else escapes (no ``RecursionError``, no naive time, no number a 64-bit
column cannot hold, no string a SQL text column refuses)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import decode_as, decode_console_client_frame, decode_device_frame, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import MAX_WIRE_INT, DeviceFrame

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)

TIMES = st.sampled_from(
    [
        "2026-11-28T10:00:00",
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:00:00.123456+05:30",
        "2026-11-28 10:00:00",
        "2026-11-28",
        "10:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59.999999-23:59",
        "2026-13-40T25:61:61Z",
        "",
        "now",
    ]
) | st.text(max_size=40)
NUMBERS = st.integers(min_value=-(2**80), max_value=2**80) | st.floats() | st.sampled_from([0, -1, 2**63, 2**64, 1e400])
WEIRD = st.one_of(TIMES, NUMBERS, st.text(), st.none(), st.booleans(), JSON_VALUES)


def _mutation(kind: str, captured_at: Any, extra: dict[str, Any]) -> dict[str, Any]:
    body = {"kind": kind, "mutation_id": 1, "carer_id": "k1", "visit_id": "v1", "captured_at": captured_at}
    body.update(extra)
    return body


SKELETONS: list[dict[str, Any]] = [
    {"type": "hello", "token": "t", "device_uuid": "u", "app_version": "1", "protocol_version": 1, "positions": []},
    {"type": "ack", "feed": "k1", "epoch": 1, "seq": 1},
    {"type": "heartbeat"},
    {"type": "sync_request", "request_id": "r", "positions": [{"feed": "k1", "epoch": 1, "seq": 0}]},
    {"type": "sync_request", "request_id": "r", "mutations": [_mutation("check_in", "2026-11-28T10:00:00Z", {})]},
    {
        "type": "sync_request",
        "request_id": "r",
        "mutations": [_mutation("task_outcome", "2026-11-28T10:00:00Z", {"task_id": "t1", "done": False})],
    },
    {
        "type": "sync_request",
        "request_id": "r",
        "mutations": [_mutation("form_submission", "2026-11-28T10:00:00Z", {"form": "f", "data": {}})],
    },
    {"type": "clean_sync_request", "request_id": "c", "feed": "k1", "cursor": None, "page_size": 10},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def mangled_frames(draw: st.DrawFn) -> str:
    """A valid device frame with one field (anywhere, however deep) replaced by a weird value."""
    skeleton = draw(st.sampled_from(SKELETONS))
    path = draw(st.sampled_from(_paths(skeleton)))
    return json.dumps(_replace(skeleton, path, draw(WEIRD)), allow_nan=True)


def _assert_usable(frame: DeviceFrame) -> None:
    """A decoded frame holds only aware times and integers a 64-bit column can hold."""

    def walk(value: Any) -> None:
        if isinstance(value, datetime):
            assert value.tzinfo is not None
        elif isinstance(value, bool):
            return
        elif isinstance(value, int):
            assert -MAX_WIRE_INT <= value <= MAX_WIRE_INT
        elif isinstance(value, msgspec.Struct):
            for field in value.__struct_fields__:
                if field != "data":  # form data is free JSON, stored as text
                    walk(getattr(value, field))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            assert "\x00" not in value

    walk(frame)


def _decode_or_code(text: str | bytes) -> DeviceFrame | ErrorCode:
    try:
        frame = decode_device_frame(text)
    except ProtocolError as exc:
        return exc.code
    _assert_usable(frame)
    assert encode(decode_device_frame(encode(frame))) == encode(frame)  # what the server accepts, it can echo
    return frame


@settings(max_examples=400, deadline=None)
@given(mangled_frames())
def test_a_mangled_frame_decodes_to_something_usable_or_a_stable_error(text: str) -> None:
    _decode_or_code(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_escape_as_anything_but_protocol_errors(raw: bytes) -> None:
    _decode_or_code(raw)
    with contextlib.suppress(ProtocolError):
        decode_console_client_frame(raw)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_never_escapes_as_anything_but_protocol_errors(value: Any) -> None:
    _decode_or_code(json.dumps(value))


@pytest.mark.parametrize("opener", ["[", '{"a":'])
@pytest.mark.parametrize("prefix", ["", '{"type":"sync_request","request_id":"r","x":'])
def test_deep_nesting_is_an_invalid_frame(opener: str, prefix: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(prefix + opener * 40_000)
    assert caught.value.code in (ErrorCode.INVALID_FRAME, ErrorCode.MALFORMED_FRAME)


def test_deeply_nested_form_data_is_an_invalid_frame_with_its_request_id() -> None:
    nested = "[" * 5000 + "]" * 5000
    mutation = (
        '{"kind":"form_submission","mutation_id":1,"carer_id":"k","visit_id":"v",'
        f'"captured_at":"2026-11-28T10:00:00Z","form":"f","data":{{"a":{nested}}}}}'
    )
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(f'{{"type":"sync_request","request_id":"r7","mutations":[{mutation}]}}')
    assert caught.value.code == ErrorCode.INVALID_FRAME


@pytest.mark.parametrize(
    "captured_at", ["2026-11-28T10:00:00", "2026-11-28T10:00:00.5", "2026-11-28T10:00"], ids=["s", "frac", "min"]
)
def test_a_device_time_without_an_offset_is_an_invalid_frame(captured_at: str) -> None:
    frame = {"type": "sync_request", "request_id": "r1", "mutations": [_mutation("check_in", captured_at, {})]}
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(json.dumps(frame))
    assert (caught.value.code, caught.value.request_id) == (ErrorCode.INVALID_FRAME, "r1")


@pytest.mark.parametrize("field", ["epoch", "seq"])
def test_numbers_beyond_64_bits_are_invalid(field: str) -> None:
    frame = {"type": "ack", "feed": "k1", "epoch": 1, "seq": 1, field: 2**63}
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(json.dumps(frame))
    assert caught.value.code == ErrorCode.INVALID_FRAME


def test_nul_characters_are_invalid() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_device_frame(json.dumps({"type": "ack", "feed": "k\x00", "epoch": 1, "seq": 1}))
    assert caught.value.code == ErrorCode.INVALID_FRAME


class _Body(msgspec.Struct):
    name: str


def test_decode_as_maps_every_failure_to_a_code() -> None:
    assert decode_as(_Body, b'{"name":"x"}') == _Body(name="x")
    with pytest.raises(ProtocolError) as caught:
        decode_as(_Body, "[" * 100_000)
    assert caught.value.code in (ErrorCode.INVALID_FRAME, ErrorCode.MALFORMED_FRAME)
