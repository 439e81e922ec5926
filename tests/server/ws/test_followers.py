"""Channel followers: one reference while one socket follows, a set beyond."""

from __future__ import annotations

from server.ws.followers import Followers


def test_first_follower_and_last_one_leaving_are_told() -> None:
    followers: Followers[str] = Followers()
    assert followers.add("carer:1", "a") is True
    assert followers.add("carer:1", "a") is False  # the same one again
    assert followers.of("carer:1") == ["a"]
    assert followers.add("carer:1", "b") is False
    assert sorted(followers.of("carer:1")) == ["a", "b"]
    assert followers.discard("carer:1", "a") is False
    assert followers.of("carer:1") == ["b"]
    assert followers.discard("carer:1", "x") is False  # never followed
    assert followers.discard("carer:1", "b") is True
    assert "carer:1" not in followers and followers.of("carer:1") == []
    assert followers.discard("carer:1", "b") is False


def test_a_set_emptied_at_once_is_removed() -> None:
    followers: Followers[str] = Followers()
    for name in "abc":
        followers.add("tenant:t", name)
    assert followers.discard("tenant:t", "a") is False
    assert followers.discard("tenant:t", "b") is False
    assert followers.discard("tenant:t", "c") is True
    assert list(followers) == []


def test_told_followers_are_a_copy() -> None:
    followers: Followers[str] = Followers()
    followers.add("c", "a")
    told = followers.of("c")
    followers.discard("c", "a")
    assert told == ["a"]
