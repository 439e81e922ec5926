"""The server feed session without sockets: every row of its decision tables."""

from __future__ import annotations

import pytest

from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import FeedPosition
from protocol.session import (
    AckReceived,
    AnnounceFeed,
    AnnounceHeads,
    AnnouncementDue,
    Close,
    Greeted,
    HeadRead,
    HeadsRead,
    LivePublished,
    PageRead,
    ReadStore,
    RecordAck,
    ResyncAsked,
    SendError,
    SendHeartbeat,
    SendLive,
    SendResyncRequired,
    SendStored,
    ServerCommand,
    ServerFeedSession,
    SyncAnswered,
    SyncStart,
    resumes_at_heads,
    sync_start,
    welcome_action,
)


def pos(seq: int, epoch: int = 2, feed: str = "f") -> FeedPosition:
    return FeedPosition(feed=feed, epoch=epoch, seq=seq)


def head(seq: int, epoch: int = 2, compacted: int = 0, feed: str = "f") -> HeadRead:
    return HeadRead(feed=feed, epoch=epoch, seq=seq, compacted=compacted)


@pytest.mark.parametrize(
    ("claimed", "at", "resync", "expected"),
    [
        (None, head(0), False, ("resume", 0, False)),
        (None, head(5), False, ("catch_up", 0, False)),
        (pos(5), head(5), False, ("resume", 5, False)),
        (pos(3), head(5), False, ("catch_up", 3, False)),
        (pos(3, epoch=1), head(5), False, ("reset", 0, False)),
        (pos(7), head(5), False, ("reset", 0, True)),
        (pos(5), head(5), True, ("clean_sync", 5, False)),
        (pos(2), head(5, compacted=3), False, ("clean_sync", 5, False)),
        (pos(3), head(5, compacted=3), False, ("catch_up", 3, False)),
        (None, head(5, compacted=3), False, ("clean_sync", 5, False)),
        (pos(7), head(5, compacted=3), False, ("clean_sync", 5, True)),
    ],
)
def test_welcome_actions(claimed: FeedPosition | None, at: HeadRead, resync: bool, expected: object) -> None:
    assert welcome_action(claimed, at, resync) == expected


@pytest.mark.parametrize(
    ("position", "at", "expected"),
    [
        (None, head(5), SyncStart(after=0, reset=False, resync=False, behind=True, head=5)),
        (None, head(0), SyncStart(after=0, reset=False, resync=False, behind=False, head=0)),
        (pos(5), head(5), SyncStart(after=5, reset=False, resync=False, behind=False, head=5)),
        (pos(3), head(5), SyncStart(after=3, reset=False, resync=False, behind=True, head=5)),
        (pos(3, epoch=1), head(5), SyncStart(after=0, reset=True, resync=False, behind=True, head=5)),
        (pos(7), head(5), SyncStart(after=0, reset=True, resync=False, behind=True, head=5)),
        (pos(2), head(5, compacted=3), SyncStart(after=2, reset=False, resync=True, behind=False, head=5)),
        (pos(3), head(5, compacted=3), SyncStart(after=3, reset=False, resync=False, behind=True, head=5)),
        (pos(7), head(5, compacted=3), SyncStart(after=0, reset=False, resync=True, behind=False, head=5)),
    ],
)
def test_where_a_standard_sync_continues(position: FeedPosition | None, at: HeadRead, expected: SyncStart) -> None:
    assert sync_start(position, at) == expected
    assert expected.more_after(at.seq - 1)
    assert not expected.more_after(at.seq)


def greeted(
    *claimed: FeedPosition, heads: tuple[HeadRead, ...] = (head(5),), max_unacked: int | None = None
) -> tuple[ServerFeedSession, list[ServerCommand]]:
    session = ServerFeedSession(max_unacked)
    commands = session.handle(Greeted(claimed=claimed, heads=heads))
    return session, commands


def test_greeting_announces_each_feed_then_errors_and_acks_then_catch_up() -> None:
    heads = (head(5), head(2, epoch=1, feed="g"))
    session, commands = greeted(pos(7), pos(1, epoch=1, feed="g"), pos(1, feed="gone"), heads=heads)
    assert commands == [
        AnnounceFeed(feed="f", epoch=2, head=5, action="reset"),
        AnnounceFeed(feed="g", epoch=1, head=2, action="catch_up"),
        SendError(code=ErrorCode.POSITION_AHEAD, message="feed f: position 7 is ahead of head 5"),
        RecordAck(reported=pos(7), head=pos(5)),
        RecordAck(reported=pos(1, epoch=1, feed="g"), head=pos(2, epoch=1, feed="g")),
        SendError(code=ErrorCode.UNKNOWN_FEED, message="feed gone is not on this socket"),
        ReadStore(feed="f", epoch=2, after=0),
        ReadStore(feed="g", epoch=1, after=1),
    ]
    assert session.feeds == ["f", "g"]
    assert session.sent("g") == pos(1, epoch=1, feed="g")


def test_a_feed_resumed_at_its_head_is_not_read_from_the_store() -> None:
    _, commands = greeted(pos(5), pos(1, feed="g"), heads=(head(5), head(3, feed="g")))
    assert [c for c in commands if isinstance(c, ReadStore)] == [ReadStore(feed="g", epoch=2, after=1)]


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (LivePublished(feed="other", epoch=2, seq=6), []),
        (LivePublished(feed="f", epoch=1, seq=6), []),
        (LivePublished(feed="f", epoch=2, seq=5), []),
        (LivePublished(feed="f", epoch=2, seq=4), []),
        (LivePublished(feed="f", epoch=2, seq=6), [SendLive(feed="f", seq=6)]),
        (LivePublished(feed="f", epoch=2, seq=8), [ReadStore(feed="f", epoch=2, after=5)]),
    ],
)
def test_live_or_fill(live: LivePublished, expected: list[object]) -> None:
    session, _ = greeted(pos(5))
    assert session.handle(live) == expected


def test_a_push_beyond_the_unacknowledged_bound_closes_as_slow_consumer() -> None:
    session, _ = greeted(pos(5), max_unacked=1)
    assert session.handle(LivePublished(feed="f", epoch=2, seq=6)) == [SendLive(feed="f", seq=6)]
    commands = session.handle(LivePublished(feed="f", epoch=2, seq=7))
    assert commands[0] == SendLive(feed="f", seq=7)
    assert isinstance(commands[1], Close) and commands[1].code == CloseCode.SLOW_CONSUMER
    session.handle(AckReceived(feed="f", epoch=2, seq=7))
    assert session.handle(LivePublished(feed="f", epoch=2, seq=8)) == [SendLive(feed="f", seq=8)]


def test_pages_send_what_was_not_sent_and_read_on_while_full() -> None:
    session, _ = greeted(pos(3))
    assert session.handle(PageRead(feed="f", seqs=(2, 3, 4, 5), page_size=4)) == [
        SendStored(feed="f", seq=4),
        SendStored(feed="f", seq=5),
        ReadStore(feed="f", epoch=2, after=5),
    ]
    assert session.handle(PageRead(feed="f", seqs=(6,), page_size=4)) == [SendStored(feed="f", seq=6)]
    assert session.sent("f") == pos(6)


def test_heads_fill_lagging_feeds_then_announce_never_below_what_was_sent() -> None:
    session, _ = greeted(pos(5), pos(1, feed="g"), heads=(head(5), head(1, feed="g")))
    read = (head(7), head(1, feed="g"), head(4, epoch=3, feed="h"))
    assert session.handle(HeadsRead(heads=read)) == [ReadStore(feed="f", epoch=2, after=5), AnnounceHeads(heads=read)]
    session.handle(PageRead(feed="f", seqs=(6, 7, 8), page_size=200))  # a change committed after the read
    assert session.handle(AnnouncementDue(heads=read)) == [
        SendHeartbeat(heads=(pos(8), pos(1, feed="g"), pos(4, epoch=3, feed="h")))
    ]
    assert session.handle(AnnouncementDue(heads=(head(9, epoch=3),))) == [SendHeartbeat(heads=(pos(9, epoch=3),))]


@pytest.mark.parametrize(
    ("ack", "code"),
    [
        (AckReceived(feed="other", epoch=2, seq=1), ErrorCode.UNKNOWN_FEED),
        (AckReceived(feed="f", epoch=1, seq=1), ErrorCode.STALE_EPOCH),
        (AckReceived(feed="f", epoch=2, seq=6), ErrorCode.POSITION_AHEAD),
    ],
)
def test_refused_acks(ack: AckReceived, code: ErrorCode) -> None:
    session, _ = greeted(pos(3))
    with pytest.raises(ProtocolError) as refused:
        session.handle(ack)
    assert refused.value.code == code


def test_an_ack_within_the_announced_head_is_recorded_and_sync_answers_announce_heads() -> None:
    session, _ = greeted(pos(3))
    assert session.handle(AckReceived(feed="f", epoch=2, seq=5)) == [RecordAck(reported=pos(5), head=pos(5))]
    assert session.handle(SyncAnswered(heads=(pos(9), pos(4, feed="unknown"), pos(20, epoch=1)))) == []
    assert session.handle(AckReceived(feed="f", epoch=2, seq=9)) == [RecordAck(reported=pos(9), head=pos(9))]
    with pytest.raises(ProtocolError):
        session.handle(AckReceived(feed="f", epoch=2, seq=10))


def test_events_and_commands_are_immutable() -> None:
    with pytest.raises(AttributeError):
        LivePublished(feed="f", epoch=1, seq=1).seq = 2  # type: ignore[misc]


def test_an_office_resync_demand_names_every_feed_of_the_socket() -> None:
    assert ServerFeedSession().handle(ResyncAsked(reason="office")) == [], "nothing before the welcome"
    session, _ = greeted(heads=(head(5), head(2, feed="g")))
    assert session.handle(ResyncAsked(reason="office")) == [SendResyncRequired(feeds=("f", "g"), reason="office")]


RESUME_ROWS = [
    # (claimed, heads, resumes at the heads?)
    ([FeedPosition(feed="a", epoch=1, seq=3)], [FeedPosition(feed="a", epoch=1, seq=3)], True),
    ([FeedPosition(feed="a", epoch=1, seq=2)], [FeedPosition(feed="a", epoch=1, seq=3)], False),
    ([FeedPosition(feed="a", epoch=2, seq=3)], [FeedPosition(feed="a", epoch=1, seq=3)], False),
    ([], [FeedPosition(feed="a", epoch=1, seq=3)], False),
    ([FeedPosition(feed="b", epoch=1, seq=3)], [], True),
]


@pytest.mark.parametrize(("claimed", "heads", "expected"), RESUME_ROWS)
def test_a_hello_resumes_at_the_heads_only_when_it_claims_each_exactly(
    claimed: list[FeedPosition], heads: list[FeedPosition], expected: bool
) -> None:
    assert resumes_at_heads(claimed, heads) is expected


def test_known_heads_count_only_in_the_epochs_the_socket_serves() -> None:
    session = ServerFeedSession()
    session.handle(Greeted(claimed=(), heads=(HeadRead(feed="a", epoch=2, seq=0),)))
    assert session.same_epochs([FeedPosition(feed="a", epoch=2, seq=5), FeedPosition(feed="z", epoch=9, seq=1)])
    assert not session.same_epochs([FeedPosition(feed="a", epoch=3, seq=0)])


def test_a_push_in_a_newer_epoch_moves_the_feed_there_and_announces_it() -> None:
    """The office reset the feed: the socket follows the new epoch, and the heartbeat it
    sends makes the device drop its copy and replay the new epoch with a standard sync."""
    session, _ = greeted(pos(5), pos(1, feed="g"), heads=(head(5), head(1, feed="g")))
    assert session.handle(LivePublished(feed="f", epoch=3, seq=4)) == [
        SendHeartbeat(heads=(pos(4, epoch=3), pos(1, feed="g")))
    ]
    assert session.sent("f") == pos(4, epoch=3)
    assert session.handle(LivePublished(feed="f", epoch=2, seq=6)) == [], "the old epoch is over"
    assert session.handle(LivePublished(feed="f", epoch=3, seq=4)) == [], "already announced"
    assert session.handle(LivePublished(feed="f", epoch=3, seq=5)) == [SendLive(feed="f", seq=5)]
    assert session.handle(AckReceived(feed="f", epoch=3, seq=5)) == [
        RecordAck(reported=pos(5, epoch=3), head=pos(5, epoch=3))
    ]
    with pytest.raises(ProtocolError) as refused:
        session.handle(AckReceived(feed="f", epoch=2, seq=5))
    assert refused.value.code == ErrorCode.STALE_EPOCH


def test_heads_or_a_sync_answer_in_a_newer_epoch_move_the_feed_there() -> None:
    session, _ = greeted(pos(5), pos(1, feed="g"), heads=(head(5), head(1, feed="g")))
    read = (head(2, epoch=3), head(1, feed="g"))
    assert session.handle(HeadsRead(heads=read)) == [AnnounceHeads(heads=read)], "the device pulls the new epoch"
    assert session.handle(AnnouncementDue(heads=read)) == [SendHeartbeat(heads=(pos(2, epoch=3), pos(1, feed="g")))]
    assert session.handle(LivePublished(feed="f", epoch=3, seq=3)) == [SendLive(feed="f", seq=3)]

    session, _ = greeted(pos(5))
    assert session.handle(SyncAnswered(heads=(pos(7, epoch=4),))) == []
    assert session.sent("f") == pos(7, epoch=4)
    assert session.handle(AckReceived(feed="f", epoch=4, seq=7)) == [
        RecordAck(reported=pos(7, epoch=4), head=pos(7, epoch=4))
    ]
    assert session.handle(HeadsRead(heads=(head(9, epoch=2),))) == [AnnounceHeads(heads=(head(9, epoch=2),))]
    assert session.handle(AnnouncementDue(heads=(head(9, epoch=2),))) == [SendHeartbeat(heads=(pos(7, epoch=4),))]
    assert session.sent("f") == pos(7, epoch=4), "a read older than the epoch served never moves the feed back"
