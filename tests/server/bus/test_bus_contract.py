"""The bus contract, run against every implementation: in-process and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from server.bus.base import Bus, BusState
from server.bus.factory import bus_for
from server.bus.memory import MemoryBus
from server.bus.redis import RedisBus
from tests.support import eventually


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    implementation: Bus = (
        MemoryBus() if request.param == "memory" else RedisBus(request.getfixturevalue("redis_server_url"))
    )
    await implementation.start()
    yield implementation
    await implementation.close()


def _channel(name: str) -> str:
    return f"test-{uuid.uuid4().hex[:8]}:{name}"


async def test_delivers_only_subscribed_channels(bus: Bus) -> None:
    a, b = _channel("a"), _channel("b")
    received: list[tuple[str, bytes]] = []
    bus.set_handler(lambda channel, payload: received.append((channel, payload)))
    await bus.subscribe([a])
    await bus.publish(a, b"1")
    await bus.publish(b, b"2")
    await eventually(lambda: received == [(a, b"1")])
    await bus.unsubscribe([a])
    await bus.publish(a, b"3")
    await bus.subscribe([b])
    await bus.publish(b, b"4")
    await eventually(lambda: len(received) == 2)
    assert received == [(a, b"1"), (b, b"4")]


async def test_subscribe_is_idempotent_and_payload_bytes_are_untouched(bus: Bus) -> None:
    a = _channel("a")
    received: list[bytes] = []
    bus.set_handler(lambda _channel, payload: received.append(payload))
    await bus.subscribe([a, a])
    await bus.subscribe([a])
    payload = b'1 7\n{"type":"change","text":"caf\\u00e9 \xc3\xa9"}'
    await bus.publish(a, payload)
    await eventually(lambda: received == [payload])


async def test_messages_on_one_channel_keep_their_order(bus: Bus) -> None:
    a = _channel("a")
    received: list[bytes] = []
    bus.set_handler(lambda _channel, payload: received.append(payload))
    await bus.subscribe([a])
    for i in range(200):
        await bus.publish(a, b"%d" % i)
    await eventually(lambda: len(received) == 200)
    assert received == [b"%d" % i for i in range(200)]


async def test_thousands_of_concurrent_subscribes_are_batched(redis_server_url: str) -> None:
    bus = RedisBus(redis_server_url)
    await bus.start()
    try:
        channels = [_channel(str(i)) for i in range(3000)]
        await asyncio.gather(*(bus.subscribe([c]) for c in channels))
        assert bus.subscription_commands <= 10
        received: list[str] = []
        bus.set_handler(lambda channel, _payload: received.append(channel))
        await bus.publish(channels[-1], b"x")
        await eventually(lambda: received == [channels[-1]])
        before = bus.subscription_commands
        await asyncio.gather(*(bus.unsubscribe([c]) for c in channels))
        assert bus.subscription_commands - before <= 10
    finally:
        await bus.close()


async def test_the_lifecycle_is_part_of_the_contract(bus: Bus) -> None:
    """State, health and the reconnect hook exist on every backend: no caller checks types."""
    assert bus.state == BusState.CONNECTED and bus.is_healthy
    calls: list[int] = []

    async def hook() -> None:
        calls.append(1)

    bus.set_reconnect_hook(hook)
    await bus.ping()
    assert bus.reconnects == 0 and bus.publish_failures == 0


async def test_closing_is_reported() -> None:
    bus = bus_for(None)
    await bus.start()
    await bus.close()
    assert bus.state == BusState.CLOSED and not bus.is_healthy
