"""The feed sessions as state machines: every rule about epochs, seqs and acks (with the
ordering of positions in :mod:`protocol.heads` and what an ack covers in :mod:`protocol.acks`).

Sans-I/O, like the rest of ``protocol/``: a session takes **events** (frozen structs: a
hello was authenticated, a live change was published, heads or a page were read from the
store, an ack or a sync answer arrived) and returns **commands** (frozen structs: send
this, read the store from seq N, record this ack, close with code C, apply this change,
run a standard or clean sync). Adapters (the server's WebSocket, the SDK's ``Device``,
the load test's lean device) move bytes and run commands; they decide nothing about
positions.

:class:`ServerFeedSession` is one socket's view of its feeds (docs/protocol.md,
sections 3 and 4): the welcome action of each feed, live-or-fill, heads never announced
below what was sent, ack validation, the unacknowledged-push bound.
:func:`sync_start` is where a standard sync continues a feed. :class:`DeviceFeedSession`
(in :mod:`protocol.device_session`) is the device side: apply-then-ack, gaps, epoch changes, resets, resync triggers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import FeedAction, FeedPosition
from protocol.tracker import check_ack


class Frozen(msgspec.Struct, frozen=True, kw_only=True):
    """Base of session events and commands: immutable values (subclasses repeat
    ``frozen=True`` so type checkers see it too)."""


# =========================================================================== server side


class HeadRead(Frozen, frozen=True):
    """A feed's head as read from the store; ``compacted``: retention removed up to here."""

    feed: str
    epoch: int
    seq: int
    compacted: int = 0


# ----------------------------------------------------------------- server events


class Greeted(Frozen, frozen=True):
    """The hello was authenticated: its positions, and the heads of the socket's feeds."""

    claimed: tuple[FeedPosition, ...]
    heads: tuple[HeadRead, ...]
    resync: bool = False
    """The office asked for a clean sync of every feed."""


class LivePublished(Frozen, frozen=True):
    """A committed change rang the bus for ``feed`` at ``(epoch, seq)``."""

    feed: str
    epoch: int
    seq: int


class PageRead(Frozen, frozen=True):
    """The store returned these seqs after what was sent (``page_size`` asked for)."""

    feed: str
    seqs: tuple[int, ...]
    page_size: int


class HeadsRead(Frozen, frozen=True):
    """Heads were read for a heartbeat (timer or the peer's probe)."""

    heads: tuple[HeadRead, ...]


class AnnouncementDue(Frozen, frozen=True):
    """The fills that a :class:`HeadsRead` asked for are done: announce the heads now."""

    heads: tuple[HeadRead, ...]


class AckReceived(Frozen, frozen=True):
    feed: str
    epoch: int
    seq: int


class SyncAnswered(Frozen, frozen=True):
    """A ``sync_response`` with these heads is going out on this socket."""

    heads: tuple[FeedPosition, ...]


class ResyncAsked(Frozen, frozen=True):
    """The office asked for a clean sync of the device (docs/protocol.md 4a, resync triggers)."""

    reason: str


ServerEvent = (
    Greeted | LivePublished | PageRead | HeadsRead | AnnouncementDue | AckReceived | SyncAnswered | ResyncAsked
)


# ----------------------------------------------------------------- server commands


class AnnounceFeed(Frozen, frozen=True):
    """One ``welcome`` feed status (the adapter adds names and the rest of the frame)."""

    feed: str
    epoch: int
    head: int
    action: FeedAction


class SendError(Frozen, frozen=True):
    code: ErrorCode
    message: str


class SendLive(Frozen, frozen=True):
    """Send the live change just published (the adapter holds its encoded bytes)."""

    feed: str
    seq: int


class ReadStore(Frozen, frozen=True):
    """Read stored changes of ``feed`` after ``after`` in ``epoch``; answer with :class:`PageRead`."""

    feed: str
    epoch: int
    after: int


class SendStored(Frozen, frozen=True):
    """Send the stored change ``seq`` of the page just read."""

    feed: str
    seq: int


class AnnounceHeads(Frozen, frozen=True):
    """Run the reads before this command, then answer with :class:`AnnouncementDue`."""

    heads: tuple[HeadRead, ...]


class SendHeartbeat(Frozen, frozen=True):
    """Send a ``heartbeat`` with these heads (the adapter adds the server time)."""

    heads: tuple[FeedPosition, ...]


class RecordAck(Frozen, frozen=True):
    """Record ``reported`` as the device's ack, checked against ``head``."""

    reported: FeedPosition
    head: FeedPosition


class Close(Frozen, frozen=True):
    code: CloseCode
    reason: str


class SendResyncRequired(Frozen, frozen=True):
    """Send ``resync_required`` for these feeds."""

    feeds: tuple[str, ...]
    reason: str


ServerCommand = (
    AnnounceFeed
    | SendError
    | SendLive
    | ReadStore
    | SendStored
    | AnnounceHeads
    | SendHeartbeat
    | RecordAck
    | SendResyncRequired
    | Close
)


@dataclass(slots=True)
class _FeedState:
    epoch: int
    sent: int
    """The last seq this socket delivered (or the start position)."""
    heads_seen: int
    """The highest head announced on this socket (welcome, heartbeat, sync, pushes)."""
    acked: int


def welcome_action(claimed: FeedPosition | None, head: HeadRead, resync: bool) -> tuple[FeedAction, int, bool]:
    """(action, start seq, position ahead?) for one feed of a ``hello`` (docs/protocol.md 3, 4a).

    A position that cannot be continued is ``reset`` (replay from seq 1) while the whole
    history is kept, and ``clean_sync`` once retention removed part of it or when the
    office asked for a clean sync; a ``clean_sync`` feed starts at the head.
    """
    same_epoch = claimed is not None and claimed.epoch == head.epoch
    ahead = same_epoch and claimed is not None and claimed.seq > head.seq
    continuable = same_epoch and not ahead
    start = claimed.seq if continuable and claimed is not None else 0
    if resync or (head.compacted and start < head.compacted):
        return "clean_sync", head.seq, ahead
    if claimed is None:
        return ("catch_up" if head.seq else "resume"), 0, ahead
    if not continuable:
        return "reset", 0, ahead
    return ("resume" if start == head.seq else "catch_up"), start, ahead


class SyncStart(Frozen, frozen=True):
    """Where a standard sync continues one feed (docs/protocol.md, section 4)."""

    after: int
    """Return changes after this seq."""
    reset: bool
    """The device's position cannot be continued: it resets the feed first."""
    resync: bool
    """Changes it needs are no longer kept: only a clean sync brings it level."""
    behind: bool
    """There are changes after ``after`` to return."""
    head: int

    def more_after(self, last: int) -> bool:
        """Whether changes remain after ``last``, the last one a response holds."""
        return last < self.head


def sync_start(position: FeedPosition | None, head: HeadRead) -> SyncStart:
    """A feed missing from the request is served from seq 1; another epoch or a position
    ahead of the head is a reset; a position behind what retention kept needs a clean sync."""
    continuable = position is not None and position.epoch == head.epoch and position.seq <= head.seq
    after = position.seq if continuable and position is not None else 0
    resync = bool(head.compacted) and after < head.compacted
    return SyncStart(
        after=after,
        reset=position is not None and not continuable and not resync,
        resync=resync,
        behind=not resync and after < head.seq,
        head=head.seq,
    )


def resumes_at_heads(claimed: Sequence[FeedPosition], heads: Sequence[FeedPosition]) -> bool:
    """Whether a hello claims every one of ``heads`` exactly: then the greeting needs no
    store read (a device behind may need the compaction point, which only the store knows)."""
    positions = {p.feed: p for p in claimed}
    return all(positions.get(h.feed) == h for h in heads)


class ServerFeedSession:
    """The feeds of one server socket, from the welcome to the close.

    ``max_unacked`` bounds the pushed-but-unacknowledged changes per feed (device sockets;
    ``None`` for consoles, which do not ack): beyond it the peer is a slow consumer.
    """

    __slots__ = ("_feeds", "max_unacked")

    def __init__(self, max_unacked: int | None = None) -> None:
        self.max_unacked = max_unacked
        self._feeds: dict[str, _FeedState] = {}

    @property
    def feeds(self) -> list[str]:
        return list(self._feeds)

    def same_epochs(self, heads: Sequence[FeedPosition]) -> bool:
        """Whether known heads are in the epochs this socket serves (else read them afresh)."""
        return all(h.epoch == self._feeds[h.feed].epoch for h in heads if h.feed in self._feeds)

    def sent(self, feed: str) -> FeedPosition:
        """The last position delivered on ``feed`` (the start position before any)."""
        state = self._feeds[feed]
        return FeedPosition(feed=feed, epoch=state.epoch, seq=state.sent)

    def handle(self, event: ServerEvent) -> list[ServerCommand]:
        """Apply one event; return the commands to run, in order. May raise
        :class:`~protocol.errors.ProtocolError` (an ack that must be refused)."""
        if isinstance(event, LivePublished):
            return self._live(event)
        if isinstance(event, PageRead):
            return self._page(event)
        if isinstance(event, AckReceived):
            return self._ack(event)
        if isinstance(event, HeadsRead):
            return self._heads(event)
        if isinstance(event, AnnouncementDue):
            return self._announce(event)
        if isinstance(event, SyncAnswered):
            for head in event.heads:
                state = self._feeds.get(head.feed)
                if state is not None and head.epoch > state.epoch:
                    self._follow_epoch(state, head.epoch, head.seq)
                self._see(head.feed, head.epoch, head.seq)
            return []
        if isinstance(event, ResyncAsked):
            return [SendResyncRequired(feeds=tuple(self._feeds), reason=event.reason)] if self._feeds else []
        return self._greet(event)

    # ------------------------------------------------------------ events

    def _greet(self, event: Greeted) -> list[ServerCommand]:
        claimed = {p.feed: p for p in event.claimed}
        statuses: list[ServerCommand] = []
        errors: list[ServerCommand] = []
        for head in event.heads:
            position = claimed.get(head.feed)
            action, start, ahead = welcome_action(position, head, event.resync)
            if ahead and position is not None:
                message = f"feed {head.feed}: position {position.seq} is ahead of head {head.seq}"
                errors.append(SendError(code=ErrorCode.POSITION_AHEAD, message=message))
            if position is not None:
                at_head = FeedPosition(feed=head.feed, epoch=head.epoch, seq=head.seq)
                errors.append(RecordAck(reported=position, head=at_head))
            # Until a push goes unacknowledged, the device holds what it was started at.
            self._feeds[head.feed] = _FeedState(epoch=head.epoch, sent=start, heads_seen=head.seq, acked=start)
            statuses.append(AnnounceFeed(feed=head.feed, epoch=head.epoch, head=head.seq, action=action))
        for feed in sorted(set(claimed) - {h.feed for h in event.heads}):
            errors.append(SendError(code=ErrorCode.UNKNOWN_FEED, message=f"feed {feed} is not on this socket"))
        # A feed started at its head needs no read: a change committed since the heads were
        # read arrives as a live push, and one whose doorbell was lost is filled by the next
        # push (a gap) or the next heartbeat's heads, as any lost doorbell is.
        catch_up: list[ServerCommand] = [
            ReadStore(feed=f, epoch=s.epoch, after=s.sent) for f, s in self._feeds.items() if s.sent < s.heads_seen
        ]
        return [*statuses, *errors, *catch_up]

    def _live(self, event: LivePublished) -> list[ServerCommand]:
        state = self._feeds.get(event.feed)
        if state is not None and event.epoch > state.epoch:
            self._follow_epoch(state, event.epoch, event.seq)
            return [SendHeartbeat(heads=tuple(self._announced(f, s) for f, s in self._feeds.items()))]
        if state is None or event.epoch != state.epoch or event.seq <= state.sent:
            return []  # not followed here, an older epoch, or already delivered
        if event.seq > state.sent + 1:
            return [ReadStore(feed=event.feed, epoch=state.epoch, after=state.sent)]  # a lost doorbell
        self._delivered(event.feed, state, event.seq)
        return [SendLive(feed=event.feed, seq=event.seq), *self._bound(state)]

    def _page(self, event: PageRead) -> list[ServerCommand]:
        state = self._feeds[event.feed]
        commands: list[ServerCommand] = []
        for seq in event.seqs:
            if seq <= state.sent:
                continue
            self._delivered(event.feed, state, seq)
            commands.append(SendStored(feed=event.feed, seq=seq))
        if len(event.seqs) >= event.page_size:
            commands.append(ReadStore(feed=event.feed, epoch=state.epoch, after=state.sent))
        return commands

    def _heads(self, event: HeadsRead) -> list[ServerCommand]:
        commands: list[ServerCommand] = []
        for head in event.heads:
            state = self._feeds.get(head.feed)
            if state is not None and head.epoch > state.epoch:
                self._follow_epoch(state, head.epoch, head.seq)
            elif state is not None and head.epoch == state.epoch and head.seq > state.sent:
                commands.append(ReadStore(feed=head.feed, epoch=state.epoch, after=state.sent))
        return [*commands, AnnounceHeads(heads=event.heads)]

    def _announce(self, event: AnnouncementDue) -> list[ServerCommand]:
        announced = []
        for head in event.heads:
            state = self._feeds.get(head.feed)
            if state is not None and head.epoch < state.epoch:
                # Read before the feed moved to a newer epoch on this socket: announcing it
                # would send the device back to the old one.
                announced.append(self._announced(head.feed, state))
                continue
            seq = head.seq
            if state is not None and head.epoch == state.epoch:
                # Heads were read before changes that may have been pushed since:
                # never announce less than this socket has already delivered.
                seq = max(head.seq, state.sent)
            self._see(head.feed, head.epoch, seq)
            announced.append(FeedPosition(feed=head.feed, epoch=head.epoch, seq=seq))
        return [SendHeartbeat(heads=tuple(announced))]

    def _ack(self, event: AckReceived) -> list[ServerCommand]:
        state = self._feeds.get(event.feed)
        if state is None:
            raise ProtocolError(ErrorCode.UNKNOWN_FEED, f"feed {event.feed} is not on this device")
        reported = FeedPosition(feed=event.feed, epoch=event.epoch, seq=event.seq)
        head = FeedPosition(feed=event.feed, epoch=state.epoch, seq=state.heads_seen)
        check_ack(reported, head)
        state.acked = max(state.acked, event.seq)
        return [RecordAck(reported=reported, head=head)]

    # ------------------------------------------------------------ helpers

    def _delivered(self, feed: str, state: _FeedState, seq: int) -> None:
        state.sent = seq
        state.heads_seen = max(state.heads_seen, seq)

    @staticmethod
    def _follow_epoch(state: _FeedState, epoch: int, head: int) -> None:
        """The feed moved to a newer ``epoch`` (the office reset it, docs/protocol.md 2):
        nothing of the old one can be continued. The device learns of it from a heartbeat
        or a sync answer with the new head and fetches ``1..head`` with a standard sync, so
        this socket goes on from ``head``: live pushes after it, acks up to it."""
        state.epoch = epoch
        state.sent = state.heads_seen = state.acked = head

    @staticmethod
    def _announced(feed: str, state: _FeedState) -> FeedPosition:
        """The highest head this socket knows of ``feed``, in the epoch it serves."""
        return FeedPosition(feed=feed, epoch=state.epoch, seq=max(state.heads_seen, state.sent))

    def _see(self, feed: str, epoch: int, seq: int) -> None:
        state = self._feeds.get(feed)
        if state is not None and state.epoch == epoch:
            state.heads_seen = max(state.heads_seen, seq)

    def _bound(self, state: _FeedState) -> list[ServerCommand]:
        if self.max_unacked is not None and state.sent - state.acked > self.max_unacked:
            return [Close(code=CloseCode.SLOW_CONSUMER, reason="too many unacknowledged changes; reconnect")]
        return []
