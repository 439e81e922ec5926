"""Token buckets: a burst at once, then the sustained rate; a refusal says how long to wait."""

from __future__ import annotations

import pytest

from server.services.token_bucket import BYTES_PER_TOKEN, Rate, TokenBucket, TokenBuckets, cost_of


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(Rate(rate_per_s=2.0, burst=3), now_ms=0)
    assert [bucket.take(1, 0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(1, 0) == pytest.approx(0.5)
    assert bucket.take(1, 499) > 0
    assert bucket.take(1, 500) == 0.0


def test_a_refusal_takes_nothing() -> None:
    bucket = TokenBucket(Rate(rate_per_s=1.0, burst=2), now_ms=0)
    assert bucket.take(2, 0) == 0.0
    assert bucket.take(1, 0) == pytest.approx(1.0)
    assert bucket.take(1, 1000) == 0.0


def test_a_cost_above_the_burst_takes_a_full_bucket() -> None:
    bucket = TokenBucket(Rate(rate_per_s=1.0, burst=4), now_ms=0)
    assert bucket.take(100, 0) == 0.0
    assert bucket.take(100, 0) == pytest.approx(4.0)


def test_a_rate_of_zero_is_no_limit() -> None:
    bucket = TokenBucket(Rate(rate_per_s=0.0, burst=0), now_ms=0)
    assert all(bucket.take(64, 0) == 0.0 for _ in range(1000))


def test_cost_is_one_token_per_started_block() -> None:
    assert [cost_of(0), cost_of(1), cost_of(BYTES_PER_TOKEN), cost_of(BYTES_PER_TOKEN + 1)] == [1, 1, 1, 2]
    assert cost_of(256 * 1024) == 64


def test_keyed_buckets_forget_the_least_recently_used() -> None:
    buckets = TokenBuckets(Rate(rate_per_s=1.0, burst=1), max_keys=2)
    assert buckets.take("a", 1, 0) == 0.0
    assert buckets.take("b", 1, 0) == 0.0
    assert buckets.take("a", 1, 0) > 0  # a's bucket is empty, and now the most recent
    assert buckets.take("c", 1, 0) == 0.0  # b forgotten
    assert len(buckets) == 2
    assert buckets.take("a", 1, 0) > 0
    assert buckets.take("b", 1, 0) == 0.0  # back, full
