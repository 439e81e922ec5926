"""The node's device-identity cache: bounded, dropped by effects, never refilled by a
read that began before an effect, and served only while the effect poll vouches for it."""

from __future__ import annotations

from server.services.identity import DeviceIdentity, IdentityCache


def _identity(device_id: str, resync: bool = False) -> DeviceIdentity:
    return DeviceIdentity(device_id=device_id, tenant_id="t", uuid="u", carers={"c": "C"}, resync_requested=resync)


def _vouched(max_entries: int = 10) -> IdentityCache:
    cache = IdentityCache(max_entries)
    cache.vouch(1_000)
    return cache


def test_an_effect_drops_every_token_of_the_device_and_nothing_else() -> None:
    cache = _vouched()
    cache.store("old", _identity("d1"), 10, cache.generation)
    cache.store("new", _identity("d1"), 11, cache.generation)
    cache.store("other", _identity("d2"), 12, cache.generation)
    hit = cache.get("old", 100)
    assert hit is not None and hit.identity.device_id == "d1" and hit.read_at_ms == 10
    cache.invalidate("d1")
    assert cache.get("old", 100) is None and cache.get("new", 100) is None
    assert not cache.holds("d1") and cache.holds("d2") and len(cache) == 1


def test_a_read_that_began_before_an_effect_is_not_kept() -> None:
    cache = _vouched()
    generation = cache.generation  # the greeting starts reading
    cache.invalidate("d1")  # the node sees a revoke while the read is in flight
    cache.store("token", _identity("d1"), 10, generation)
    assert cache.get("token", 100) is None
    cache.store("token", _identity("d1"), 20, cache.generation)  # a read after the effect
    assert cache.get("token", 100) is not None


def test_entries_are_served_only_while_the_poll_vouches_for_them() -> None:
    cache = IdentityCache()
    cache.store("token", _identity("d1"), 10, cache.generation)
    assert cache.get("token", 100) is None, "never vouched: the store is read"
    cache.vouch(200)
    assert cache.get("token", 200) is not None
    assert cache.get("token", 201) is None, "the poll fell behind"
    cache.clear()
    cache.vouch(1_000)
    assert cache.get("token", 300) is None and not cache.holds("d1")


def test_an_asked_for_clean_sync_is_not_cached() -> None:
    cache = _vouched()
    cache.store("token", _identity("d1", resync=True), 10, cache.generation)
    assert cache.get("token", 100) is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = _vouched(max_entries=2)
    cache.store("a", _identity("da"), 1, cache.generation)
    cache.store("b", _identity("db"), 2, cache.generation)
    assert cache.get("a", 100) is not None  # a is used: b is now the oldest
    cache.store("c", _identity("dc"), 3, cache.generation)
    assert len(cache) == 2
    assert cache.get("b", 100) is None and not cache.holds("db")
    assert cache.get("a", 100) is not None and cache.get("c", 100) is not None
