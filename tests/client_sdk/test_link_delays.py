"""After a 4003 close (the server's database is unavailable) the device waits the hinted
time instead of growing its backoff, so it returns as soon as the database does."""

from __future__ import annotations

from client_sdk.backoff import Backoff
from client_sdk.link import DRAIN_JITTER_S, Link
from protocol.errors import CloseCode
from protocol.frames import Hello, ServerFrame


def _link() -> Link:
    def hello() -> Hello:
        return Hello(token="t", device_uuid="u", app_version="1", protocol_version=1)

    async def on_frame(_frame: ServerFrame) -> None:
        return None

    return Link(["ws://127.0.0.1:1/ws/device"], "http://127.0.0.1:1", "t", hello, on_frame, Backoff())


def test_a_try_again_later_close_waits_the_hint_and_keeps_the_backoff() -> None:
    link = _link()
    for _ in range(5):
        delay = link._delay_after(CloseCode.TRY_AGAIN_LATER, "the database is unavailable (OSError); retry in 2 s")
        assert 2.0 <= delay <= 3.0
    assert link.backoff.attempt == 0


def test_other_closes_back_off() -> None:
    link = _link()
    link._delay_after(1006, "")
    link._delay_after(CloseCode.TRY_AGAIN_LATER, "no hint")
    assert link.backoff.attempt == 2


def test_a_draining_close_waits_its_reconnect_hint_plus_jitter_and_keeps_the_backoff() -> None:
    link = _link()
    for _ in range(20):
        delay = link._delay_after(CloseCode.SERVER_SHUTDOWN, "server shutting down; reconnect_after_ms=640")
        assert 0.64 <= delay <= 0.64 + DRAIN_JITTER_S
    assert link.backoff.attempt == 0


def test_a_draining_close_without_a_hint_backs_off() -> None:
    link = _link()
    link._delay_after(CloseCode.SERVER_SHUTDOWN, "server shutting down")
    assert link.backoff.attempt == 1
