"""The device feed session without sockets. Its decision tables are the shared vectors of
:mod:`protocol.session_vectors` (run by ``test_session_vectors.py`` here and by the
TypeScript SDK's tests); what stays here cannot be written as JSON text."""

from __future__ import annotations

import pytest

from protocol.device_session import FramePeek, peek


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        (b'{"type":"change","feed":"f","epoch":2,"seq":"six"}', FramePeek(type="change", feed="f")),
        (b"\xff not json", FramePeek()),
        (b'{"type":"change","feed":5}', FramePeek()),
    ],
)
def test_peek_reads_what_it_can_of_bytes_that_did_not_decode(raw: bytes, seen: FramePeek) -> None:
    assert peek(raw) == seen
