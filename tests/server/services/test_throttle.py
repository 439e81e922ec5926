"""Rate-limit key stores stay within their count and byte bounds whatever the keys, and a
full store cannot be flushed cheaply to reset a limited key."""

from __future__ import annotations

import tracemalloc

from server.clock import ManualClock
from server.services.throttle import EVICTION_SAMPLE, Limit, SlidingWindow


def _window(limit: Limit, *, max_keys: int = 100_000, max_bytes: int = 1 << 30) -> SlidingWindow:
    return SlidingWindow(limit, ManualClock(), max_keys=max_keys, max_bytes=max_bytes)


def test_huge_keys_cost_no_more_than_small_ones() -> None:
    """A 200 KB login is remembered in a few hundred bytes, not 200 KB."""
    window = _window(Limit(10, 900.0))
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(200):
            window.record(f"{n:05d}" + "x" * 200_000)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(window) == 200
    assert after - before < 200 * 1024


def test_the_store_stays_within_its_bytes() -> None:
    max_bytes = 256 * 1024
    window = _window(Limit(30, 60.0), max_bytes=max_bytes)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(20_000):
            key = f"198.51.{n // 256}.{n % 256}"
            for _ in range(30):  # every key at its limit: the most a key can cost
                window.record(key)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0 < len(window) < 20_000
    assert after - before <= max_bytes


def test_the_store_stays_within_its_count() -> None:
    window = _window(Limit(30, 60.0), max_keys=1_000)
    for n in range(5_000):
        window.record(f"login-{n}")
    assert len(window) == 1_000


def test_fresh_keys_do_not_flush_a_limited_key() -> None:
    """Flooding a full store with new keys (one attempt each) never forgets a key at its limit."""
    limit = Limit(10, 900.0)
    window = _window(limit, max_keys=1_000)
    for n in range(500):
        window.record(f"early-{n}")
    for _ in range(limit.limit):
        window.record("victim@agency.test")
    assert window.retry_after_s("victim@agency.test") > 0
    for n in range(50_000):
        window.record(f"flood-{n}")
    assert len(window) == 1_000
    assert window.retry_after_s("victim@agency.test") > 0


def test_flushing_a_limited_key_costs_more_attempts_than_it_gives_back() -> None:
    """Keys holding as many attempts as the limited key can push it out: the attacker pays
    at least the sample's worth of full limits to win back one limit."""
    limit = Limit(10, 900.0)
    window = _window(limit, max_keys=EVICTION_SAMPLE * 4)
    for _ in range(limit.limit):
        window.record("victim@agency.test")
    spent = 0
    while window.retry_after_s("victim@agency.test") > 0:
        key = f"filler-{spent // limit.limit}"
        window.record(key)
        spent += 1
        assert spent < 100_000
    assert spent >= (EVICTION_SAMPLE - 1) * limit.limit


def test_keys_whose_window_passed_go_first() -> None:
    clock = ManualClock()
    window = SlidingWindow(Limit(3, 60.0), clock, max_keys=10, max_bytes=1 << 30)
    for n in range(10):
        for _ in range(3):
            window.record(f"old-{n}")
    clock.advance(30)
    for _ in range(3):
        window.record("recent")  # evicts an old key at its limit: nothing had expired yet
    clock.advance(31)  # the old keys' windows have passed, not the recent one's
    for n in range(9):
        window.record(f"new-{n}")
    assert window.retry_after_s("recent") > 0


def test_clear_and_forget_one() -> None:
    window = _window(Limit(2, 60.0))
    window.record("a")
    window.record("a")
    assert window.retry_after_s("a") > 0
    window.forget_one("a")
    assert window.retry_after_s("a") == 0
    window.record("a")
    window.clear("a")
    assert window.retry_after_s("a") == 0
    assert len(window) == 0
