from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.frames import FeedPosition
from protocol.tracker import (
    Apply,
    Duplicate,
    EpochReset,
    FeedTracker,
    Gap,
    HeadBehind,
    InSync,
    decide_change,
    decide_head,
    proven_ack,
)

AT_5 = FeedPosition(feed="f", epoch=2, seq=5)


@pytest.mark.parametrize(
    ("epoch", "seq", "decision"),
    [
        (2, 6, Apply(6)),
        (2, 5, Duplicate(5)),
        (2, 1, Duplicate(1)),
        (2, 7, Gap(6, 6)),
        (2, 20, Gap(6, 19)),
        (3, 1, EpochReset(3)),
        (1, 9, EpochReset(1)),
    ],
)
def test_change_decisions(epoch: int, seq: int, decision: object) -> None:
    assert decide_change(AT_5, epoch, seq) == decision


@pytest.mark.parametrize(
    ("epoch", "head", "decision"),
    [
        (2, 5, InSync()),
        (2, 6, Gap(6, 6)),
        (2, 9, Gap(6, 9)),
        (2, 3, HeadBehind(3)),
        (4, 5, EpochReset(4)),
    ],
)
def test_head_decisions(epoch: int, head: int, decision: object) -> None:
    assert decide_head(AT_5, epoch, head) == decision


def test_tracker_advances_only_when_told() -> None:
    tracker = FeedTracker(FeedPosition(feed="f", epoch=1, seq=0))
    assert tracker.on_change(1, 1) == Apply(1)
    assert tracker.on_change(1, 1) == Apply(1), "deciding does not move the position"
    tracker.advance(1)
    assert tracker.on_change(1, 1) == Duplicate(1)
    assert tracker.on_head(1, 3) == Gap(2, 3)
    with pytest.raises(ValueError, match="cannot move back"):
        tracker.advance(0)
    tracker.reset(2)
    assert tracker.position == FeedPosition(feed="f", epoch=2, seq=0)


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=60))
def test_applying_only_apply_decisions_yields_contiguous_sequence(arrivals: list[int]) -> None:
    """Whatever order and repetition changes arrive in, applied seqs are 1, 2, 3, ... with no hole."""
    tracker = FeedTracker(FeedPosition(feed="f", epoch=1, seq=0))
    applied: list[int] = []
    for seq in arrivals:
        decision = tracker.on_change(1, seq)
        if isinstance(decision, Apply):
            applied.append(seq)
            tracker.advance(seq)
        elif isinstance(decision, Gap):
            assert decision.first == tracker.position.seq + 1
            assert decision.last == seq - 1
    assert applied == list(range(1, len(applied) + 1))


@pytest.mark.parametrize(
    ("reported", "proven"),
    [
        (FeedPosition(feed="f", epoch=2, seq=5), True),
        (FeedPosition(feed="f", epoch=2, seq=1), True),
        (FeedPosition(feed="f", epoch=2, seq=0), False),
        (FeedPosition(feed="f", epoch=2, seq=6), False),
        (FeedPosition(feed="f", epoch=1, seq=3), False),
        (FeedPosition(feed="g", epoch=2, seq=3), False),
    ],
)
def test_a_reported_position_is_an_ack_only_within_the_current_epoch_and_head(
    reported: FeedPosition, proven: bool
) -> None:
    assert (proven_ack(reported, AT_5) == reported) is proven
    assert (proven_ack(reported, AT_5) is None) is not proven
