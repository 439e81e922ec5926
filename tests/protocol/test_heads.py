"""Feed positions are ordered by epoch first, then seq (protocol/heads.py)."""

from __future__ import annotations

import pytest

from protocol.frames import FeedPosition
from protocol.heads import is_newer, moved_on, not_older


@pytest.mark.parametrize(
    ("position", "than", "newer", "same_or_newer"),
    [
        ((1, 5), (1, 4), True, True),
        ((1, 4), (1, 4), False, True),
        ((1, 3), (1, 4), False, False),
        ((2, 1), (1, 900), True, True),  # a reset starts low but is newer
        ((1, 900), (2, 1), False, False),
        ((3, 0), (2, 0), True, True),
        ((0, 0), (0, 0), False, True),
    ],
)
def test_positions_order_by_epoch_then_seq(
    position: tuple[int, int], than: tuple[int, int], newer: bool, same_or_newer: bool
) -> None:
    assert is_newer(*position, *than) is newer
    assert not_older(*position, *than) is same_or_newer


def _heads(**seqs: tuple[int, int]) -> dict[str, FeedPosition]:
    return {feed: FeedPosition(feed=feed, epoch=epoch, seq=seq) for feed, (epoch, seq) in seqs.items()}


@pytest.mark.parametrize(
    ("known", "announced", "moved"),
    [
        (_heads(a=(1, 5)), _heads(a=(1, 5)), []),
        (_heads(a=(1, 6)), _heads(a=(1, 5)), ["a"]),
        (_heads(a=(1, 4)), _heads(a=(1, 5)), []),  # a stale cache never asks for less
        (_heads(a=(2, 1)), _heads(a=(1, 5)), ["a"]),
        ({}, _heads(a=(1, 5)), []),  # not known: nothing known to have moved
        (_heads(a=(1, 5), b=(1, 3)), _heads(b=(1, 2), a=(1, 5), c=(1, 0)), ["b"]),
        (_heads(a=(1, 9), b=(1, 9)), _heads(b=(1, 2), a=(1, 5)), ["b", "a"]),
    ],
)
def test_moved_on_lists_the_feeds_known_beyond_what_was_announced(
    known: dict[str, FeedPosition], announced: dict[str, FeedPosition], moved: list[str]
) -> None:
    assert moved_on(known, announced) == moved
