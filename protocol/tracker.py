"""The per-feed sequence tracker: what to do with an incoming position.

Given the position a device has durably stored for a feed and a position that arrives
(a ``change`` frame, or a head in ``heartbeat`` / ``sync_response``), the tracker returns
one decision. The decision table (docs/protocol.md, "Sequence tracking"):

==========================  ===============================  ==============
incoming vs stored          change frame                     announced head
==========================  ===============================  ==============
other epoch                 :class:`EpochReset`              :class:`EpochReset`
seq <= stored seq           :class:`Duplicate`               :class:`InSync` (equal) /
                                                             :class:`HeadBehind` (lower)
seq == stored seq + 1       :class:`Apply`                   :class:`Gap`
seq > stored seq + 1        :class:`Gap` (missing range)     :class:`Gap`
==========================  ===============================  ==============

The tracker never advances by itself: call :meth:`FeedTracker.advance` only after the
change and the new position were committed together in the local store.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import FeedPosition


@dataclass(frozen=True, slots=True)
class Apply:
    """Apply this change; afterwards the position is ``seq``."""

    seq: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Already applied; ignore it (acking again is harmless)."""

    seq: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Changes ``first``..``last`` (inclusive) are missing: fetch them before going on."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class EpochReset:
    """The feed was reset: local data of this feed cannot be continued; resync it."""

    epoch: int


@dataclass(frozen=True, slots=True)
class InSync:
    """The announced head equals the stored position."""


@dataclass(frozen=True, slots=True)
class HeadBehind:
    """The announced head is below the stored position: the device is ahead of the server.

    This happens after a server restore; treat it like an epoch reset.
    """

    head: int


ChangeDecision = Apply | Duplicate | Gap | EpochReset
HeadDecision = InSync | Gap | EpochReset | HeadBehind


def decide_change(stored: FeedPosition, epoch: int, seq: int) -> ChangeDecision:
    """Decide what to do with change ``(epoch, seq)`` given the ``stored`` position."""
    if epoch != stored.epoch:
        return EpochReset(epoch)
    if seq <= stored.seq:
        return Duplicate(seq)
    if seq == stored.seq + 1:
        return Apply(seq)
    return Gap(stored.seq + 1, seq - 1)


def decide_head(stored: FeedPosition, epoch: int, head: int) -> HeadDecision:
    """Decide what an announced feed head means for the ``stored`` position."""
    if epoch != stored.epoch:
        return EpochReset(epoch)
    if head == stored.seq:
        return InSync()
    if head < stored.seq:
        return HeadBehind(head)
    return Gap(stored.seq + 1, head)


def proven_ack(reported: FeedPosition, head: FeedPosition) -> FeedPosition | None:
    """What a position a device reports proves it holds, as an ack; ``None`` if nothing.

    Every position a device reports (an ``ack``, the positions in ``hello`` and in a
    ``sync_request`` on any transport, the next report after a clean-sync swap) is the
    position it has durably applied, so it counts as an ack when it can be one: in the
    feed's current epoch, not ahead of the head ``head`` the server knows, and past seq 0
    (seq 0 proves nothing). A refused report records nothing.
    """
    if reported.feed != head.feed or reported.epoch != head.epoch:
        return None
    if not 0 < reported.seq <= head.seq:
        return None
    return reported


def check_ack(ack: FeedPosition, head: FeedPosition) -> None:
    """Refuse an ``ack`` frame that cannot be one (docs/protocol.md 5.1, ``ack``), on any
    transport: raise ``stale_epoch`` when it is not in the feed's current epoch, and
    ``position_ahead`` when it is beyond ``head`` (the head announced on the socket, or
    the stored head over HTTP)."""
    if ack.epoch != head.epoch:
        raise ProtocolError(ErrorCode.STALE_EPOCH, f"feed {ack.feed} is in epoch {head.epoch}, not {ack.epoch}")
    if ack.seq > head.seq:
        raise ProtocolError(ErrorCode.POSITION_AHEAD, f"ack {ack.seq} is ahead of feed {ack.feed} head {head.seq}")


class FeedTracker:
    """Tracks the durably stored position of one feed on a device."""

    def __init__(self, position: FeedPosition) -> None:
        self.position = position

    def on_change(self, epoch: int, seq: int) -> ChangeDecision:
        return decide_change(self.position, epoch, seq)

    def on_head(self, epoch: int, head: int) -> HeadDecision:
        return decide_head(self.position, epoch, head)

    def advance(self, seq: int) -> None:
        """Record that ``seq`` has been committed locally. Positions never move back."""
        if seq < self.position.seq:
            raise ValueError(f"position cannot move back from {self.position.seq} to {seq}")
        self.position = FeedPosition(feed=self.position.feed, epoch=self.position.epoch, seq=seq)

    def reset(self, epoch: int) -> None:
        """Start the feed over in ``epoch`` after the device dropped its copy."""
        self.position = FeedPosition(feed=self.position.feed, epoch=epoch, seq=0)
