from __future__ import annotations

from server.connection_limits import uvicorn_limits
from server.settings import Settings


def test_websocket_keepalive_comes_from_the_settings() -> None:
    defaults = Settings()
    limits = uvicorn_limits(
        ws_ping_interval_s=defaults.ws_ping_interval_s, ws_ping_timeout_s=defaults.ws_ping_timeout_s
    )
    assert (limits["ws_ping_interval"], limits["ws_ping_timeout"]) == (60.0, 20.0)
    # The slow-consumer bound stays below the keepalive, so a stalled device sees 4001.
    assert defaults.send_stall_s < defaults.ws_ping_interval_s + defaults.ws_ping_timeout_s


def test_a_zero_ping_interval_turns_websocket_pings_off() -> None:
    limits = uvicorn_limits(ws_ping_interval_s=0, ws_ping_timeout_s=20)
    assert limits["ws_ping_interval"] is None
    assert limits["ws_ping_timeout"] is None
