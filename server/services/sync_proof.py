"""When a device was last proven level with every feed it follows.

A device acknowledges a feed position (epoch, seq) and the store keeps when that position
was first reported. An acknowledgement of seq N at time T proves the device level with
the feed at T when change N+1 did not exist yet at T (committed later, or not at all). A
device is level with all its feeds at T when every feed proves it at T; since a device's
positions only grow, the latest such moment is the latest of its acknowledgements, if
no feed had already moved on by then.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.acks import level


@dataclass(frozen=True)
class FeedAck:
    head: int
    """The feed's head in its current epoch."""
    acked: int
    """The position the device acknowledged in the current epoch (0: none)."""
    acked_at: int | None
    """When that position was first reported (ms); None: no acknowledgement in this epoch."""
    next_committed_at: int | None
    """When change ``acked + 1`` was committed (ms), if the feed has it."""


def last_level_at(feeds: list[FeedAck]) -> int | None:
    """The last moment (ms) the device was proven level with every feed, or None."""
    if not feeds:
        return None
    level_from = 0
    level_until: int | None = None
    for feed in feeds:
        if feed.acked_at is None:
            if not level(0, feed.head):
                return None  # changes it never acknowledged in this epoch
            continue  # an empty feed: level without any acknowledgement
        level_from = max(level_from, feed.acked_at)
        if not level(feed.acked, feed.head):
            if feed.next_committed_at is None:
                return None  # the next change is no longer in the store: nothing proves when it came
            level_until = feed.next_committed_at if level_until is None else min(level_until, feed.next_committed_at)
    if level_from == 0 or (level_until is not None and level_until <= level_from):
        return None
    return level_from
