from __future__ import annotations

import pytest

from protocol.errors import (
    RECONNECT_RANGE,
    TERMINAL_RANGE,
    CloseCode,
    ErrorCode,
    ProtocolError,
    reconnect_after_s,
    retry_hint_s,
    should_reconnect,
)


def test_close_codes_sit_in_their_documented_ranges() -> None:
    reconnect = {
        CloseCode.SERVER_SHUTDOWN,
        CloseCode.SLOW_CONSUMER,
        CloseCode.HELLO_TIMEOUT,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.FEEDS_CHANGED,
        CloseCode.TOO_MANY_FRAMES,
        CloseCode.TOO_MANY_SOCKETS,
    }
    for code in CloseCode:
        expected = RECONNECT_RANGE if code in reconnect else TERMINAL_RANGE
        assert code in expected, code


@pytest.mark.parametrize(
    ("code", "reconnect"),
    [
        (1000, True),
        (1001, True),
        (1006, True),
        (1011, True),
        (1012, True),
        (4000, True),
        (4001, True),
        (1008, False),
        (1009, False),
        (1002, False),
        (4100, False),
        (4101, False),
        (4199, False),
    ],
)
def test_should_reconnect(code: int, reconnect: bool) -> None:
    assert should_reconnect(code) is reconnect


def test_protocol_error_carries_code_and_request_id() -> None:
    error = ProtocolError(ErrorCode.POSITION_AHEAD, "ahead", "r1")
    assert (error.code, error.message, error.request_id, str(error)) == (
        ErrorCode.POSITION_AHEAD,
        "ahead",
        "r1",
        "ahead",
    )


def test_error_code_values_are_stable() -> None:
    # Renaming a value breaks every deployed app: this list only ever grows.
    assert {c.value for c in ErrorCode} >= {
        "malformed_frame",
        "unknown_frame_type",
        "invalid_frame",
        "frame_too_large",
        "unexpected_frame",
        "auth_failed",
        "device_revoked",
        "unsupported_version",
        "unknown_feed",
        "position_ahead",
        "stale_epoch",
        "too_many_mutations",
        "internal_error",
    }


def test_an_error_never_carries_u0000() -> None:
    error = ProtocolError(ErrorCode.INVALID_FRAME, "bad \x00 value", "r\x00")
    assert "\x00" not in error.message and error.request_id is None


@pytest.mark.parametrize(
    ("reason", "hint"),
    [("the database is unavailable (OSError); retry in 2 s", 2.0), ("retry in 0.5 s", 0.5), ("slow", None)],
)
def test_the_retry_hint_of_a_try_again_later_close(reason: str, hint: float | None) -> None:
    assert retry_hint_s(reason) == hint


@pytest.mark.parametrize(
    ("reason", "after"),
    [
        ("server shutting down; reconnect_after_ms=640", 0.64),
        ("reconnect_after_ms=0", 0.0),
        ("server shutting down", None),
    ],
)
def test_the_reconnect_hint_of_a_draining_close(reason: str, after: float | None) -> None:
    assert reconnect_after_s(reason) == after
