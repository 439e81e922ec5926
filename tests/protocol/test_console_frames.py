from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocol.codec import decode_console_client_frame, decode_console_server_frame, encode
from protocol.console import (
    AlertDevice,
    AlertRaised,
    AlertView,
    AlertVisit,
    ConsoleEvent,
    ConsoleFeedStatus,
    ConsoleHello,
    ConsoleWelcome,
    DeviceConnected,
)
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import FeedPosition, Heartbeat

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ALERT = AlertView(
    id="a1",
    carer_id="k1",
    carer_name="Amara",
    branch_id="b1",
    status="open",
    severity="high",
    diagnosis="offline",
    raised_at=NOW,
    updated_at=NOW,
    closed_at=None,
    closed_by=None,
    first_unacked_seq=4,
    head_seq=5,
    earliest_start=NOW,
    minutes_until_start=25,
    devices=[
        AlertDevice(
            device_id="d1",
            name="Phone",
            uuid="u1",
            connected=False,
            last_seen_at=None,
            last_sync_at=NOW,
            acked_seq=3,
            head_seq=5,
            state="offline",
        )
    ],
    visits=[
        AlertVisit(
            visit_id="v1",
            client_name="Mrs Patel",
            starts_at=NOW,
            ends_at=NOW,
            status="scheduled",
            change="rescheduled",
            seq=5,
        )
    ],
    action="Ask Amara to run a manual sync with the app open and the screen on.",
)

CLIENT = [ConsoleHello(token="cst_x", positions=[FeedPosition(feed="b1", epoch=1, seq=3)]), Heartbeat()]
SERVER = [
    ConsoleWelcome(
        user_id="u",
        role="coordinator",
        server_time=NOW,
        heartbeat_interval_s=25,
        feeds=[ConsoleFeedStatus(feed="b1", name="North", epoch=1, head=9, action="catch_up")],
    ),
    ConsoleEvent(feed="b1", epoch=1, seq=4, at=NOW, event=AlertRaised(alert=ALERT)),
    ConsoleEvent(
        feed="b1", epoch=1, seq=5, at=NOW, event=DeviceConnected(device_id="d1", device_name="Phone", carer_ids=["k1"])
    ),
    Heartbeat(heads=[FeedPosition(feed="b1", epoch=1, seq=5)]),
]


@pytest.mark.parametrize("frame", CLIENT, ids=lambda f: type(f).__name__)
def test_console_client_frames_round_trip(frame: object) -> None:
    assert decode_console_client_frame(encode(frame)) == frame


@pytest.mark.parametrize("frame", SERVER, ids=lambda f: type(f).__name__)
def test_console_server_frames_round_trip(frame: object) -> None:
    assert decode_console_server_frame(encode(frame)) == frame


def test_a_device_frame_is_not_a_console_frame() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_console_client_frame(b'{"type": "hello", "token": "t"}')
    assert caught.value.code == ErrorCode.UNKNOWN_FRAME_TYPE
