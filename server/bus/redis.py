"""The Redis pub/sub bus: one subscriber connection per node, batched (un)subscribes.

- Channels are exact names (``feed:<carer>``, ``staff:<user>``); no pattern subscriptions,
  since Redis matches every pattern against every publish.
- ``subscribe``/``unsubscribe`` calls made while a batch is in flight are coalesced into
  the next SUBSCRIBE/UNSUBSCRIBE command, so a reconnect storm of thousands of devices
  costs a handful of round trips, not thousands.
- Payloads are the already-encoded frame bytes, passed to the handler untouched.
- When the connection drops, the reader reconnects with capped exponential backoff,
  resubscribes everything and awaits the reconnect hook so the node can re-check feed
  heads against the database (messages published meanwhile are lost; the store is the
  truth). Nothing the hook or Redis raises ends the reader: Redis and the database may
  fail and return in any order.
- A publish that fails on a connection Redis closed (a pooled connection from before a
  Redis restart) is retried once on a fresh connection; only a second failure loses it.
- ``state`` says whether the bus delivers now (health checks and metrics read it).
"""

from __future__ import annotations

import asyncio
import logging
import random

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.bus.base import Bus, BusState, Handler
from server.tunables import REDIS_SUBSCRIBE_CHUNK as _CHUNK

log = logging.getLogger(__name__)


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        self.url = url
        # One retry, at once, on a reconnected socket: a pooled connection Redis closed while
        # it was idle fails its first command; the retry makes that invisible.
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=5,
            health_check_interval=15,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError, RedisTimeoutError)),
        )
        # The subscriber connection must not heal itself behind the bus's back: the bus
        # notices the loss, resubscribes and runs the reconnect hook (heads re-check).
        self._subscriber: Redis = Redis.from_url(
            url, socket_connect_timeout=5, health_check_interval=15, retry=Retry(NoBackoff(), 0)
        )
        self._pubsub: PubSub | None = None
        self._handler: Handler | None = None
        self._wanted: set[str] = set()
        self._active: set[str] = set()
        self._changed = asyncio.Event()
        self._flushed: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self.subscription_commands = 0
        """SUBSCRIBE/UNSUBSCRIBE commands sent: shows how well requests were batched."""
        self._broken = False

    async def start(self) -> None:
        await self._client.ping()
        self._pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        self._syncer = asyncio.create_task(self._sync_subscriptions(), name="redis-bus-subscriptions")
        self.state = BusState.CONNECTED

    def _lost(self, what: str, exc: BaseException) -> None:
        """Mark the bus broken; one warning per outage, not one per failed call."""
        if self.state != BusState.RECONNECTING:
            log.warning("redis bus lost (%s: %s); reconnecting with backoff", what, exc)
        self._broken = True
        if self.state != BusState.CLOSED:
            self.state = BusState.RECONNECTING

    async def close(self) -> None:
        self.state = BusState.CLOSED
        for task in (self._reader, self._syncer):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._reader, self._syncer) if t), return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
        await self._subscriber.aclose()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    async def ping(self) -> None:
        await self._client.ping()

    async def publish(self, channel: str, payload: bytes) -> None:
        try:
            await self._client.publish(channel, payload)
        except (RedisError, OSError) as exc:
            self.publish_failures += 1
            if self.state == BusState.CONNECTED:
                log.warning("publish to %s lost (%s); devices will catch up from the store", channel, exc)

    async def subscribe(self, channels: list[str]) -> None:
        self._wanted.update(channels)
        await self._wait_flushed()

    async def unsubscribe(self, channels: list[str]) -> None:
        self._wanted.difference_update(channels)
        await self._wait_flushed()

    async def _wait_flushed(self) -> None:
        if self._wanted == self._active:
            return
        if self._flushed is None or self._flushed.done():
            self._flushed = asyncio.get_running_loop().create_future()
        waiter = self._flushed
        self._changed.set()
        await asyncio.shield(waiter)

    async def _sync_subscriptions(self) -> None:
        """Apply the difference between wanted and active channels, in batches."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            waiter, self._flushed = self._flushed, None
            try:
                await self._apply_difference()
            except (RedisError, OSError) as exc:
                self._lost("(un)subscribe", exc)
            finally:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def _apply_difference(self) -> None:
        assert self._pubsub is not None
        add = sorted(self._wanted - self._active)
        drop = sorted(self._active - self._wanted)
        for start in range(0, len(add), _CHUNK):
            chunk = add[start : start + _CHUNK]
            await self._pubsub.subscribe(*chunk)
            self.subscription_commands += 1
            self._active.update(chunk)
        for start in range(0, len(drop), _CHUNK):
            chunk = drop[start : start + _CHUNK]
            await self._pubsub.unsubscribe(*chunk)
            self.subscription_commands += 1
            self._active.difference_update(chunk)

    async def _read(self) -> None:
        """Deliver messages until closed; no failure of Redis or of a hook ends this task."""
        attempt = 0
        while True:
            try:
                if self._broken:
                    delay = min(10.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)
                    attempt += 1
                    await asyncio.sleep(delay)
                    if await self._reconnect():
                        attempt = 0
                    continue
                await self._read_one()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a handler bug must not stop delivery for the whole node
                log.exception("redis bus reader: unexpected error; carrying on")
                self._lost("reader", exc)

    async def _read_one(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        if not pubsub.subscribed:
            await asyncio.sleep(0.05)
            return
        try:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        except (RedisError, OSError) as exc:
            self._lost("connection", exc)
            return
        if message is not None and message["type"] == "message" and self._handler is not None:
            channel = message["channel"]
            self._handler(channel.decode() if isinstance(channel, bytes) else channel, message["data"])

    async def _reconnect(self) -> bool:
        """A fresh subscriber connection with every wanted channel; False if Redis is still away."""
        old = self._pubsub
        self._pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        self._active = set()
        if old is not None:
            try:
                await old.aclose()  # type: ignore[no-untyped-call]
            except Exception:  # the old connection is already broken
                log.debug("closing broken pubsub failed", exc_info=True)
        try:
            await self._subscriber.ping()
            await self._apply_difference()
        except (RedisError, OSError) as exc:
            log.debug("redis still unreachable (%s)", exc)
            return False
        self._broken = False
        self.reconnects += 1
        if self.state != BusState.CLOSED:
            self.state = BusState.CONNECTED
        log.warning("redis bus reconnected; resubscribed %d channels", len(self._active))
        await self._run_reconnect_hook()
        return True

    async def _run_reconnect_hook(self) -> None:
        """The hook re-checks heads in the database, which may itself be down: log and go on
        (heartbeats repeat the check on their own schedule)."""
        if self._reconnect_hook is None:
            return
        try:
            await self._reconnect_hook()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("after the redis bus reconnected, the heads check failed (%s); heartbeats will repeat it", exc)
