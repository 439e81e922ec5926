"""What an acknowledgement covers (docs/protocol.md §2, §3 step 5).

Acks are cumulative within an epoch: acking seq 9 acknowledges 1..9. An ack made in one
epoch says nothing about another: after a feed reset the device has acknowledged nothing
of the new epoch until it acks in it. These rules are shared by everyone who compares an
ack with a feed's head: the node's ack buffer, the mismatch detector and its details, the
device report, the socket metrics, and the SDK reporting its positions.
"""

from __future__ import annotations


def same_epoch(epoch: int, other_epoch: int) -> bool:
    """Whether two positions can be compared by seq at all (a reset starts a new epoch)."""
    return epoch == other_epoch


def acked_in(epoch: int, acked_epoch: int | None, acked_seq: int | None) -> int:
    """The seq acknowledged in ``epoch``, given the last recorded ack (0: nothing yet)."""
    if acked_epoch is None or acked_seq is None or not same_epoch(acked_epoch, epoch):
        return 0
    return acked_seq


def covers(acked_seq: int, seq: int) -> bool:
    """Whether an ack of ``acked_seq`` acknowledges ``seq`` (same epoch: acks are cumulative)."""
    return seq <= acked_seq


def level(acked_seq: int, head_seq: int) -> bool:
    """Whether a device that acked ``acked_seq`` holds everything up to ``head_seq``."""
    return covers(acked_seq, head_seq)


def alert_resolved(epoch: int, acked_seq: int, alert_epoch: int, alert_head: int) -> bool:
    """An alert raised over ``(alert_epoch, alert_head)`` is over when the feed moved to
    another epoch (a reset: a new alert judges the new one) or an ack covers its head."""
    return not same_epoch(epoch, alert_epoch) or covers(acked_seq, alert_head)
