"""The device side of a feed session, as a state machine (the server side is in
:mod:`protocol.session`).

Every device rule about positions lives here (docs/protocol.md, sections 2 to 4a):
apply a change only when it is the next one, then ack; a gap, another epoch or a head
behind the stored position starts a standard sync (resetting the feed first when the
position cannot be continued); ``welcome`` actions, ``sync_response`` resets and
``resync`` lists, ``resync_required`` demands and frames the device cannot decode become
clean syncs.

The device's positions live in its own durable store. The session reads them through
``positions`` (a read-only lookup the adapter passes in) and never assumes a position
moved: it returns commands, and the adapter applies a change together with its new
position in one local transaction *before* it runs the ack that follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from protocol.frames import FeedAction, FeedPosition
from protocol.session import Frozen
from protocol.tracker import Apply, EpochReset, Gap, HeadBehind, decide_change, decide_head

PositionOf = Callable[[str], FeedPosition | None]
"""The device's stored position of a feed (``None``: the feed is not on the device)."""


# ----------------------------------------------------------------- device events


class FeedOffer(Frozen, frozen=True):
    """One feed of a ``welcome``."""

    feed: str
    epoch: int
    head: int
    action: FeedAction


class Welcomed(Frozen, frozen=True):
    feeds: tuple[FeedOffer, ...]


class ChangeArrived(Frozen, frozen=True):
    """A ``change`` frame was pushed on the socket."""

    feed: str
    epoch: int
    seq: int


class HeadsAnnounced(Frozen, frozen=True):
    """A ``heartbeat``'s heads."""

    heads: tuple[FeedPosition, ...]


class SyncAnswer(Frozen, frozen=True):
    """A ``sync_response``: its resets, heads, resyncs and the positions of its changes."""

    resets: tuple[str, ...]
    heads: tuple[FeedPosition, ...]
    changes: tuple[FeedPosition, ...]
    resync: tuple[str, ...] = ()


class ResyncDemanded(Frozen, frozen=True):
    """``resync_required`` from the server: clean-sync these feeds."""

    feeds: tuple[str, ...]


class SnapshotSwapped(Frozen, frozen=True):
    """A clean sync of ``feed`` was swapped in at ``position``."""

    position: FeedPosition


class FrameUndecodable(Frozen, frozen=True):
    """A server frame the device could not decode (a shape this app does not know, a
    corrupt frame). ``feed`` is the feed it named, when that much could be read;
    ``tracked`` the feeds the device holds."""

    feed: str | None
    tracked: tuple[str, ...]


DeviceEvent = (
    Welcomed | ChangeArrived | HeadsAnnounced | SyncAnswer | ResyncDemanded | SnapshotSwapped | FrameUndecodable
)


class FramePeek(msgspec.Struct, frozen=True):
    """What can be read of a frame that did not decode: its type, feed and request id."""

    type: str | None = None
    feed: str | None = None
    request_id: str | None = None


_peek_decoder = msgspec.json.Decoder(FramePeek)


def peek(raw: bytes | str) -> FramePeek:
    """The few routing fields of a frame that failed to decode (empty if even those fail)."""
    try:
        return _peek_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FramePeek()


# ----------------------------------------------------------------- device commands


class KeepFeeds(Frozen, frozen=True):
    """Track exactly these feeds: start new ones at ``(epoch, 0)``, drop the others' data."""

    feeds: tuple[FeedOffer, ...]


class ResetFeed(Frozen, frozen=True):
    """Drop the feed's local data and set its position to ``(epoch, 0)``."""

    feed: str
    epoch: int


class ApplyChange(Frozen, frozen=True):
    """Apply change ``(epoch, seq)`` and store it as the feed's position, in one transaction."""

    feed: str
    epoch: int
    seq: int


class SendAck(Frozen, frozen=True):
    feed: str
    epoch: int
    seq: int


class RunStandardSync(Frozen, frozen=True):
    """Run a standard sync (soon, in the background)."""


class RunCleanSync(Frozen, frozen=True):
    """Clean-sync these feeds (forced: the carer's work is kept anyway), then a standard sync."""

    feeds: tuple[str, ...]


DeviceCommand = KeepFeeds | ResetFeed | ApplyChange | SendAck | RunStandardSync | RunCleanSync

ChangeOutcome = Literal["apply", "duplicate", "repair", "ignored"]


class DeviceFeedSession:
    """A device's feeds: what to do with each frame the server sends about them."""

    def __init__(self, positions: PositionOf) -> None:
        self.positions = positions
        self.wanted_clean: set[str] = set()
        """Feeds waiting for a clean sync: pushes for them are not applied meanwhile."""

    def handle(self, event: DeviceEvent) -> list[DeviceCommand]:
        """Apply one event; return the commands to run, in order."""
        if isinstance(event, ChangeArrived):
            return self._change(event)
        if isinstance(event, HeadsAnnounced):
            return self._heads(event)
        if isinstance(event, SyncAnswer):
            return self._sync_answer(event)
        if isinstance(event, Welcomed):
            return self._welcome(event)
        if isinstance(event, ResyncDemanded):
            return self._want_clean(event.feeds)
        if isinstance(event, FrameUndecodable):
            return self._undecodable(event)
        self.wanted_clean.discard(event.position.feed)
        return []

    def classify(self, event: ChangeArrived) -> ChangeOutcome:
        """What a pushed change is, for counters: applied, a duplicate, a repair, ignored."""
        stored = self.positions(event.feed)
        if stored is None or event.feed in self.wanted_clean:
            return "ignored"
        decision = decide_change(stored, event.epoch, event.seq)
        if isinstance(decision, Apply):
            return "apply"
        return "repair" if isinstance(decision, Gap | EpochReset) else "duplicate"

    # ------------------------------------------------------------ events

    def _welcome(self, event: Welcomed) -> list[DeviceCommand]:
        commands: list[DeviceCommand] = [KeepFeeds(feeds=event.feeds)]
        clean: list[str] = []
        for offer in event.feeds:
            stored = self.positions(offer.feed)
            if offer.action == "clean_sync":
                clean.append(offer.feed)
            elif offer.action == "reset" or (stored is not None and stored.epoch != offer.epoch):
                commands.append(ResetFeed(feed=offer.feed, epoch=offer.epoch))
        return [*commands, *(self._want_clean(tuple(clean)) if clean else [])]

    def _change(self, event: ChangeArrived) -> list[DeviceCommand]:
        outcome = self.classify(event)
        if outcome == "apply":
            return [
                ApplyChange(feed=event.feed, epoch=event.epoch, seq=event.seq),
                SendAck(feed=event.feed, epoch=event.epoch, seq=event.seq),
            ]
        return [RunStandardSync()] if outcome == "repair" else []

    def _heads(self, event: HeadsAnnounced) -> list[DeviceCommand]:
        commands: list[DeviceCommand] = []
        behind = False
        for head in event.heads:
            stored = self.positions(head.feed)
            if stored is None:
                continue
            decision = decide_head(stored, head.epoch, head.seq)
            if isinstance(decision, EpochReset | HeadBehind):
                commands.append(ResetFeed(feed=head.feed, epoch=head.epoch))
            behind = behind or isinstance(decision, EpochReset | HeadBehind | Gap)
        return [*commands, RunStandardSync()] if behind else []

    def _sync_answer(self, event: SyncAnswer) -> list[DeviceCommand]:
        epochs = {h.feed: h.epoch for h in event.heads}
        commands: list[DeviceCommand] = []
        now: dict[str, FeedPosition] = {}
        for feed in event.resets:
            commands.append(ResetFeed(feed=feed, epoch=epochs[feed]))
            now[feed] = FeedPosition(feed=feed, epoch=epochs[feed], seq=0)
        last: dict[str, ApplyChange] = {}
        for change in event.changes:
            stored = now.get(change.feed) or self.positions(change.feed)
            if stored is None:
                continue
            if stored.epoch != change.epoch and change.feed in epochs:
                commands.append(ResetFeed(feed=change.feed, epoch=change.epoch))
                stored = FeedPosition(feed=change.feed, epoch=change.epoch, seq=0)
            if isinstance(decide_change(stored, change.epoch, change.seq), Apply):
                applied = ApplyChange(feed=change.feed, epoch=change.epoch, seq=change.seq)
                commands.append(applied)
                last[change.feed] = applied
                stored = change
            now[change.feed] = stored
        commands += [SendAck(feed=a.feed, epoch=a.epoch, seq=a.seq) for a in last.values()]
        return [*commands, *(self._want_clean(event.resync) if event.resync else [])]

    def _undecodable(self, event: FrameUndecodable) -> list[DeviceCommand]:
        """A frame that cannot be read may have been a change: replaying the feed would meet
        it again, so the device's copy is replaced by a snapshot instead (a clean sync: the
        carer's pending work is kept). A frame that names a held feed costs that feed; one
        that names none (or cannot be read at all) costs every feed held."""
        if event.feed is not None and event.feed in event.tracked:
            return self._want_clean((event.feed,))
        return self._want_clean(event.tracked) if event.tracked else []

    def _want_clean(self, feeds: tuple[str, ...]) -> list[DeviceCommand]:
        self.wanted_clean.update(feeds)
        return [RunCleanSync(feeds=tuple(sorted(self.wanted_clean)))]
