"""The device feed session without sockets: every row of its decision tables."""

from __future__ import annotations

import pytest

from protocol.device_session import (
    ApplyChange,
    ChangeArrived,
    DeviceCommand,
    DeviceEvent,
    DeviceFeedSession,
    FeedOffer,
    FramePeek,
    FrameUndecodable,
    HeadsAnnounced,
    KeepFeeds,
    ResetFeed,
    ResyncDemanded,
    RunCleanSync,
    RunStandardSync,
    SendAck,
    SnapshotSwapped,
    SyncAnswer,
    Welcomed,
    peek,
)
from protocol.frames import FeedPosition


def pos(seq: int, epoch: int = 2, feed: str = "f") -> FeedPosition:
    return FeedPosition(feed=feed, epoch=epoch, seq=seq)


def session_at(*positions: FeedPosition) -> DeviceFeedSession:
    held = {p.feed: p for p in positions}
    return DeviceFeedSession(held.get)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ChangeArrived(feed="f", epoch=2, seq=6),
            [ApplyChange(feed="f", epoch=2, seq=6), SendAck(feed="f", epoch=2, seq=6)],
        ),
        (ChangeArrived(feed="f", epoch=2, seq=5), []),
        (ChangeArrived(feed="f", epoch=2, seq=1), []),
        (ChangeArrived(feed="f", epoch=2, seq=8), [RunStandardSync()]),
        (ChangeArrived(feed="f", epoch=3, seq=1), [RunStandardSync()]),
        (ChangeArrived(feed="unknown", epoch=2, seq=1), []),
    ],
)
def test_pushed_changes(change: ChangeArrived, expected: list[DeviceCommand]) -> None:
    assert session_at(pos(5)).handle(change) == expected


def test_pushes_wait_while_a_clean_sync_is_wanted_and_resume_after_the_swap() -> None:
    session = session_at(pos(5))
    assert session.handle(ResyncDemanded(feeds=("f",))) == [RunCleanSync(feeds=("f",))]
    assert session.classify(ChangeArrived(feed="f", epoch=2, seq=6)) == "ignored"
    assert session.handle(SnapshotSwapped(position=pos(5))) == []
    assert session.classify(ChangeArrived(feed="f", epoch=2, seq=6)) == "apply"
    assert session.classify(ChangeArrived(feed="f", epoch=2, seq=3)) == "duplicate"
    assert session.classify(ChangeArrived(feed="f", epoch=2, seq=9)) == "repair"


@pytest.mark.parametrize(
    ("heads", "expected"),
    [
        ((pos(5),), []),
        ((pos(7),), [RunStandardSync()]),
        ((pos(4),), [ResetFeed(feed="f", epoch=2), RunStandardSync()]),
        ((pos(5, epoch=3),), [ResetFeed(feed="f", epoch=3), RunStandardSync()]),
        ((pos(9, feed="unknown"),), []),
        ((pos(7), pos(4, epoch=4, feed="g")), [ResetFeed(feed="g", epoch=4), RunStandardSync()]),
    ],
)
def test_announced_heads(heads: tuple[FeedPosition, ...], expected: list[DeviceCommand]) -> None:
    assert session_at(pos(5), pos(1, epoch=1, feed="g")).handle(HeadsAnnounced(heads=heads)) == expected


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        (FeedOffer(feed="f", epoch=2, head=5, action="resume"), []),
        (FeedOffer(feed="f", epoch=2, head=9, action="catch_up"), []),
        (FeedOffer(feed="f", epoch=3, head=9, action="catch_up"), [ResetFeed(feed="f", epoch=3)]),
        (FeedOffer(feed="f", epoch=2, head=3, action="reset"), [ResetFeed(feed="f", epoch=2)]),
        (FeedOffer(feed="f", epoch=2, head=9, action="clean_sync"), [RunCleanSync(feeds=("f",))]),
        (FeedOffer(feed="new", epoch=1, head=9, action="catch_up"), []),
    ],
)
def test_welcome_actions(offer: FeedOffer, expected: list[DeviceCommand]) -> None:
    assert session_at(pos(5)).handle(Welcomed(feeds=(offer,))) == [KeepFeeds(feeds=(offer,)), *expected]


def test_a_sync_answer_resets_then_applies_in_order_then_acks_the_last_per_feed() -> None:
    session = session_at(pos(5), pos(2, epoch=1, feed="g"), pos(1, feed="h"))
    answer = SyncAnswer(
        resets=("g",),
        heads=(pos(7), pos(1, epoch=3, feed="g"), pos(2, epoch=4, feed="h")),
        changes=(pos(5), pos(6), pos(8), pos(1, epoch=3, feed="g"), pos(1, epoch=4, feed="h"), pos(1, feed="x")),
        resync=("f",),
    )
    assert session.handle(answer) == [
        ResetFeed(feed="g", epoch=3),
        ApplyChange(feed="f", epoch=2, seq=6),
        ApplyChange(feed="g", epoch=3, seq=1),
        ResetFeed(feed="h", epoch=4),
        ApplyChange(feed="h", epoch=4, seq=1),
        SendAck(feed="f", epoch=2, seq=6),
        SendAck(feed="g", epoch=3, seq=1),
        SendAck(feed="h", epoch=4, seq=1),
        RunCleanSync(feeds=("f",)),
    ]


def test_a_sync_answer_with_nothing_new_commands_nothing() -> None:
    event: DeviceEvent = SyncAnswer(resets=(), heads=(pos(5),), changes=(pos(5),))
    assert session_at(pos(5)).handle(event) == []


@pytest.mark.parametrize(
    ("feed", "tracked", "expected"),
    [
        ("f", ("f", "g"), [RunCleanSync(feeds=("f",))]),  # it named a feed the device holds: that one
        (None, ("f", "g"), [RunCleanSync(feeds=("f", "g"))]),  # no feed could be read: every feed
        ("other", ("f", "g"), [RunCleanSync(feeds=("f", "g"))]),  # a feed it does not hold: every feed
        (None, (), []),  # nothing held, nothing to clean
    ],
)
def test_an_undecodable_frame_becomes_a_clean_sync(
    feed: str | None, tracked: tuple[str, ...], expected: list[DeviceCommand]
) -> None:
    session = session_at(pos(5), pos(3, feed="g"))
    assert session.handle(FrameUndecodable(feed=feed, tracked=tracked)) == expected
    if expected:
        assert session.classify(ChangeArrived(feed=tracked[0], epoch=2, seq=6)) == "ignored", "held until the swap"


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        (b'{"type":"change","feed":"f","epoch":2,"seq":"six"}', FramePeek(type="change", feed="f")),
        ('{"type":"sync_response","request_id":"r1","changes":7}', FramePeek(type="sync_response", request_id="r1")),
        (b"\xff not json", FramePeek()),
        (b'{"type":"change","feed":5}', FramePeek()),
    ],
)
def test_peek_reads_what_it_can_of_a_frame_that_did_not_decode(raw: bytes | str, seen: FramePeek) -> None:
    assert peek(raw) == seen
