"""What an acknowledgement covers, epoch by epoch."""

from __future__ import annotations

from protocol.acks import acked_in, alert_resolved, covers, level, same_epoch


def test_an_ack_counts_only_in_its_own_epoch() -> None:
    assert acked_in(2, 2, 9) == 9
    assert acked_in(3, 2, 9) == 0, "after a reset nothing of the new epoch is acknowledged"
    assert acked_in(2, None, None) == 0
    assert same_epoch(4, 4) and not same_epoch(4, 5)


def test_acks_are_cumulative() -> None:
    assert covers(9, 1) and covers(9, 9) and not covers(9, 10)
    assert level(7, 7) and not level(6, 7)


def test_an_alert_ends_with_an_ack_of_its_head_or_a_new_epoch() -> None:
    assert alert_resolved(2, 10, 2, 10)
    assert not alert_resolved(2, 9, 2, 10)
    assert alert_resolved(3, 0, 2, 10)
