"""The silence bound a device applies to a welcomed socket."""

from __future__ import annotations

from protocol.liveness import SILENCE_MARGIN_S, silence_limit_s


def test_two_missed_heartbeats_and_the_margin() -> None:
    assert silence_limit_s(25.0) == 55.0
    assert silence_limit_s(1.0) == 2.0 + SILENCE_MARGIN_S
