"""Attempt limits counted once for the whole cluster, in Redis, through the ``limits``
library's moving window (the same "at most N in any window" as
:class:`server.services.throttle.SlidingWindow`).

A node with Redis configured (``--redis-url``) counts sign-in and enrolment attempts here,
so behind a load balancer spreading one client over N nodes the client still gets the
documented limit, not N times it. Keys are stored as digests, never as given. Entries are
stamped with each node's wall clock (keep the nodes' clocks in step, as NTP does).
"""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from server.services.limit_keys import Limit, key_digest

KEY_PREFIX = "caresync-limits"
"""Every key these limits keep in Redis starts with this."""


class SharedLimits:
    """One node's connection to the cluster's counts (a pool it closes when the node stops)."""

    def __init__(self, redis_url: str) -> None:
        self._pool = aioredis.ConnectionPool.from_url(redis_url)
        # connection_pool is a documented option of RedisStorage that its annotation leaves out.
        self.storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self.redis = aioredis.Redis(connection_pool=self._pool)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.answering = True
        """False while Redis does not answer (the nodes then count alone; logged once)."""

    def window(self, name: str, limit: Limit) -> SharedWindow:
        return SharedWindow(self, name, limit)

    async def close(self) -> None:
        await self.redis.aclose()
        await self._pool.aclose()


class SharedWindow:
    """At most ``limit.limit`` events per key in any ``limit.window_s`` seconds, cluster-wide.

    Redis errors are raised as they are; ``server.services.throttle`` then counts in the
    node's own memory until Redis answers again.
    """

    def __init__(self, shared: SharedLimits, name: str, limit: Limit) -> None:
        self.shared = shared
        self.name = name
        self.item = RateLimitItemPerSecond(limit.limit, math.ceil(limit.window_s))

    def _id(self, key: str) -> str:
        return key_digest(key).hex()

    async def retry_after_s(self, key: str) -> int:
        """0 when another event is allowed now, else the whole seconds until it is."""
        if await self.shared.limiter.test(self.item, self.name, self._id(key)):
            return 0
        return await self._wait(key)

    async def hit(self, key: str) -> int:
        """Record an event if the limit allows it (0), else record nothing and return the wait."""
        if await self.shared.limiter.hit(self.item, self.name, self._id(key)):
            return 0
        return await self._wait(key)

    async def clear(self, key: str) -> None:
        await self.shared.limiter.clear(self.item, self.name, self._id(key))

    async def forget_one(self, key: str) -> None:
        """Take back the latest event of ``key`` (an attempt that turned out legitimate).

        The moving window keeps a key's events as a Redis list, newest first, under the
        storage's prefix; popping its head takes back the latest one.
        """
        await self.shared.redis.lpop(f"{KEY_PREFIX}:{self.item.key_for(self.name, self._id(key))}")

    async def _wait(self, key: str) -> int:
        stats = await self.shared.limiter.get_window_stats(self.item, self.name, self._id(key))
        return max(1, math.ceil(stats.reset_time - time.time()))
