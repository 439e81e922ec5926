"""Token buckets: a sustained rate with a burst, for what one device may send.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; taking more than it
holds is refused, and the refusal says how long until enough tokens are back. Times are
passed in (milliseconds), so the buckets need no clock of their own.

A frame or an HTTP call costs one token per started :data:`BYTES_PER_TOKEN` of its size,
so a flood of large uploads is held to the same bytes as a flood of small frames is to
frames.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

DEVICES_REMEMBERED = 50_000
"""Devices whose bucket a node keeps (:class:`TokenBuckets`); beyond this the least
recently seen is forgotten and comes back full, as after a pause."""
BYTES_PER_TOKEN = 4096
"""A frame or request body costs one token per started 4 KiB (an ack or a heartbeat: 1)."""


def cost_of(size_bytes: int) -> int:
    """Tokens a frame or body of ``size_bytes`` costs: at least 1."""
    return max(1, -(-size_bytes // BYTES_PER_TOKEN))


@dataclass(frozen=True)
class Rate:
    rate_per_s: float
    burst: int


class TokenBucket:
    __slots__ = ("_tokens", "_updated_ms", "rate")

    def __init__(self, rate: Rate, now_ms: int) -> None:
        self.rate = rate
        self._tokens = float(rate.burst)
        self._updated_ms = now_ms

    def take(self, cost: int, now_ms: int) -> float:
        """Take ``cost`` tokens: 0.0 when taken, else the seconds until they would be there
        (nothing is taken then). A cost above the burst is taken from a full bucket; a rate
        of 0 is no limit."""
        if self.rate.rate_per_s <= 0:
            return 0.0
        self._refill(now_ms)
        needed = min(float(cost), float(self.rate.burst))
        if self._tokens >= needed:
            self._tokens -= needed
            return 0.0
        return (needed - self._tokens) / self.rate.rate_per_s

    def _refill(self, now_ms: int) -> None:
        elapsed_s = max(0, now_ms - self._updated_ms) / 1000
        self._tokens = min(float(self.rate.burst), self._tokens + elapsed_s * self.rate.rate_per_s)
        self._updated_ms = now_ms


class TokenBuckets:
    """One bucket per key (a device id), at most ``max_keys`` of them: the least recently
    used is forgotten first (it comes back full, which only a device idle for a while is)."""

    def __init__(self, rate: Rate, max_keys: int) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, cost: int, now_ms: int) -> float:
        """As :meth:`TokenBucket.take`, for the bucket of ``key``."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, now_ms)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(cost, now_ms)

    def __len__(self) -> int:
        return len(self._buckets)
