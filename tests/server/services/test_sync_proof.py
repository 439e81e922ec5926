"""The moment a device was last proven level with all its feeds."""

from __future__ import annotations

from server.services.sync_proof import FeedAck, last_level_at


def test_an_ack_at_the_head_proves_its_moment() -> None:
    assert last_level_at([FeedAck(head=7, acked=7, acked_at=100, next_committed_at=None)]) == 100


def test_changes_committed_after_the_ack_do_not_undo_it() -> None:
    assert last_level_at([FeedAck(head=9, acked=7, acked_at=100, next_committed_at=340)]) == 100


def test_an_ack_behind_an_existing_change_proves_nothing() -> None:
    assert last_level_at([FeedAck(head=9, acked=7, acked_at=100, next_committed_at=90)]) is None


def test_every_feed_must_be_level_at_the_same_moment() -> None:
    level = FeedAck(head=3, acked=3, acked_at=200, next_committed_at=None)
    moved_on = FeedAck(head=5, acked=4, acked_at=50, next_committed_at=150)
    assert last_level_at([level, moved_on]) is None
    still_level = FeedAck(head=5, acked=4, acked_at=50, next_committed_at=250)
    assert last_level_at([level, still_level]) == 200


def test_an_empty_feed_needs_no_ack_but_an_unacked_one_fails() -> None:
    empty = FeedAck(head=0, acked=0, acked_at=None, next_committed_at=None)
    assert last_level_at([empty, FeedAck(head=2, acked=2, acked_at=70, next_committed_at=None)]) == 70
    assert last_level_at([empty]) is None
    assert last_level_at([FeedAck(head=2, acked=0, acked_at=None, next_committed_at=10)]) is None
    assert last_level_at([]) is None


def test_a_change_gone_from_the_store_proves_nothing() -> None:
    assert last_level_at([FeedAck(head=9, acked=7, acked_at=100, next_committed_at=None)]) is None
