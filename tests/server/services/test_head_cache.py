from __future__ import annotations

from server.services.feeds import Head
from server.services.head_cache import HeadCache


def test_published_changes_move_a_known_head_forward_never_back() -> None:
    cache = HeadCache()
    cache.observe("feed:a", 1, 5)
    assert cache.known({"a": "feed:a"}) is None, "only a read makes a head known (it carries the compaction point)"
    cache.store("feed:a", Head(epoch=1, seq=5, compacted=2))
    cache.observe("feed:a", 1, 7)
    cache.observe("feed:a", 1, 6)  # a late doorbell
    assert cache.known({"a": "feed:a"}) == {"a": Head(epoch=1, seq=7, compacted=2)}
    cache.store("feed:a", Head(epoch=1, seq=6, compacted=2))  # a read that began before seq 7 committed
    assert cache.known({"a": "feed:a"}) == {"a": Head(epoch=1, seq=7, compacted=2)}
    cache.observe("feed:a", 2, 1)  # a reset
    assert cache.known({"a": "feed:a"}) == {"a": Head(epoch=2, seq=1)}


def test_a_forgotten_or_missing_feed_makes_the_whole_answer_unknown() -> None:
    cache = HeadCache()
    cache.store("feed:a", Head(epoch=1, seq=1))
    cache.store("feed:b", Head(epoch=1, seq=2))
    assert cache.known({"a": "feed:a", "b": "feed:b"}) == {"a": Head(1, 1), "b": Head(1, 2)}
    cache.forget("feed:b")
    assert len(cache) == 1
    assert cache.known({"a": "feed:a", "b": "feed:b"}) is None
