"""Feed heads a node knows without asking the database.

The hub keeps one entry per feed channel it follows: set from every authoritative read
(a greeting's heads, the hub's periodic batched read) and moved forward by every change
published on the bus (each carries its epoch and seq). An entry is dropped when the node
stops following the feed, since nothing would keep it current. A change whose doorbell
was lost leaves the entry behind until the next periodic read, exactly as it leaves a
socket behind: the database stays the truth, the cache is never ahead of it.
"""

from __future__ import annotations

from protocol.acks import same_epoch
from protocol.heads import is_newer, not_older
from server.services.feeds import Head


class HeadCache:
    def __init__(self) -> None:
        self._heads: dict[str, Head] = {}

    def __len__(self) -> int:
        return len(self._heads)

    def store(self, channel: str, head: Head) -> None:
        """A head read from the database. A change observed while the read was in flight
        may be newer than it: the entry never moves back (epochs only grow)."""
        cached = self._heads.get(channel)
        if cached is None or not_older(head.epoch, head.seq, cached.epoch, cached.seq):
            self._heads[channel] = head

    def observe(self, channel: str, epoch: int, seq: int) -> None:
        """A change published on ``channel``: move the known head forward (never back)."""
        cached = self._heads.get(channel)
        if cached is None:
            return  # not known yet: the compaction point comes only from a read
        if is_newer(epoch, seq, cached.epoch, cached.seq):
            # The compaction point is only known in the epoch it was read in.
            compacted = cached.compacted if same_epoch(epoch, cached.epoch) else 0
            self._heads[channel] = Head(epoch=epoch, seq=seq, compacted=compacted)

    def forget(self, channel: str) -> None:
        self._heads.pop(channel, None)

    def known(self, channels: dict[str, str]) -> dict[str, Head] | None:
        """feed id -> head for ``channels`` (feed id -> channel), or None if any is unknown."""
        found = {}
        for feed_id, channel in channels.items():
            head = self._heads.get(channel)
            if head is None:
                return None
            found[feed_id] = head
        return found
