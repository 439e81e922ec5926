"""How feed positions are ordered, for whoever keeps or compares feed heads.

A position is ``(epoch, seq)`` (docs/protocol.md, section 2). A feed's epoch only grows:
a position in a later epoch is newer than any position in an earlier one, whatever the
seqs (a reset starts again from a low seq). Within one epoch the higher seq is newer.

These rules are shared by the server's per-node head cache (a head never moves back) and
by a greeting that checks whether heads moved on while it was answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Position(Protocol):
    """Anything with an epoch and a seq (a frame's ``FeedPosition``, a store head)."""

    @property
    def epoch(self) -> int: ...
    @property
    def seq(self) -> int: ...


def is_newer(epoch: int, seq: int, than_epoch: int, than_seq: int) -> bool:
    """Whether ``(epoch, seq)`` is strictly after ``(than_epoch, than_seq)``."""
    return epoch > than_epoch or (epoch == than_epoch and seq > than_seq)


def not_older(epoch: int, seq: int, than_epoch: int, than_seq: int) -> bool:
    """Whether ``(epoch, seq)`` is the same position as, or after, ``(than_epoch, than_seq)``."""
    return not is_newer(than_epoch, than_seq, epoch, seq)


def moved_on(known: Mapping[str, Position], announced: Mapping[str, Position]) -> list[str]:
    """The feeds (in ``announced`` order) whose ``known`` head is newer than the ``announced``
    one: what a greeting must fill after it registered, if heads moved while it was answered.
    A feed missing from ``known`` has not moved as far as anyone knows."""
    moved = []
    for feed, head in announced.items():
        now = known.get(feed)
        if now is not None and is_newer(now.epoch, now.seq, head.epoch, head.seq):
            moved.append(feed)
    return moved
