"""The Redis bus survives Redis restarts in any order with other outages, never loses the
first publish after one, and reports its state. Runs against a throwaway redis-server
(the shared one is never stopped)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from server.bus.base import BusState
from server.bus.redis import RedisBus
from tests import backing
from tests.support import eventually


@pytest.fixture
async def pair(throwaway_redis: backing.ThrowawayRedis) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """A publishing node's bus and a subscribing node's bus."""
    publisher, subscriber = RedisBus(throwaway_redis.url), RedisBus(throwaway_redis.url)
    await publisher.start()
    await subscriber.start()
    yield publisher, subscriber
    await publisher.close()
    await subscriber.close()


def _restart(server: backing.ThrowawayRedis) -> None:
    server.stop()
    server.start()


async def test_a_failing_reconnect_hook_does_not_stop_the_reader(
    throwaway_redis: backing.ThrowawayRedis, pair: tuple[RedisBus, RedisBus]
) -> None:
    """The hook re-checks heads in the database; with the database down it raises. The
    reader must carry on delivering (and try the hook again on the next reconnect)."""
    publisher, subscriber = pair
    channel = f"feed:{uuid.uuid4().hex}"
    received: list[bytes] = []
    subscriber.set_handler(lambda _channel, payload: received.append(payload))
    calls: list[int] = []

    async def database_down() -> None:
        calls.append(1)
        raise OSError("connection refused (database down)")

    subscriber.set_reconnect_hook(database_down)
    await subscriber.subscribe([channel])
    _restart(throwaway_redis)
    await eventually(lambda: calls and subscriber.state == BusState.CONNECTED, timeout=20)
    await publisher.publish(channel, b"after")
    await eventually(lambda: received == [b"after"], timeout=10)
    _restart(throwaway_redis)
    await eventually(lambda: len(calls) >= 2, timeout=20)
    await publisher.publish(channel, b"again")
    await eventually(lambda: received == [b"after", b"again"], timeout=10)


async def test_the_first_publish_after_a_restart_is_not_lost(
    throwaway_redis: backing.ThrowawayRedis, pair: tuple[RedisBus, RedisBus]
) -> None:
    publisher, subscriber = pair
    channel = f"feed:{uuid.uuid4().hex}"
    received: list[bytes] = []
    subscriber.set_handler(lambda _channel, payload: received.append(payload))
    await subscriber.subscribe([channel])
    await publisher.publish(channel, b"before")  # leaves a pooled connection behind
    await eventually(lambda: received == [b"before"])
    _restart(throwaway_redis)
    await eventually(lambda: subscriber.state == BusState.CONNECTED and subscriber.reconnects == 1, timeout=20)
    await publisher.publish(channel, b"first after restart")
    await eventually(lambda: received == [b"before", b"first after restart"], timeout=10)
    assert publisher.publish_failures == 0


async def test_state_follows_redis(throwaway_redis: backing.ThrowawayRedis, pair: tuple[RedisBus, RedisBus]) -> None:
    _publisher, subscriber = pair
    await subscriber.subscribe([f"feed:{uuid.uuid4().hex}"])
    assert subscriber.state == BusState.CONNECTED and subscriber.is_healthy
    throwaway_redis.stop()
    await eventually(lambda: subscriber.state == BusState.RECONNECTING, timeout=20)
    assert not subscriber.is_healthy
    throwaway_redis.start()
    await eventually(lambda: subscriber.state == BusState.CONNECTED, timeout=20)
    assert subscriber.is_healthy
    await subscriber.close()
    assert subscriber.state == BusState.CLOSED
