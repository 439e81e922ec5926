"""The bus contract, run against every implementation available here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.bus.base import Bus
from server.bus.memory import MemoryBus


@pytest.fixture(params=["memory"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    implementation: Bus = {"memory": MemoryBus}[request.param]()
    await implementation.start()
    yield implementation
    await implementation.close()


async def test_delivers_only_subscribed_channels(bus: Bus) -> None:
    received: list[tuple[str, bytes]] = []
    bus.set_handler(lambda channel, payload: received.append((channel, payload)))
    await bus.subscribe(["feed:a"])
    await bus.publish("feed:a", b"1")
    await bus.publish("feed:b", b"2")
    await bus.unsubscribe(["feed:a"])
    await bus.publish("feed:a", b"3")
    assert received == [("feed:a", b"1")]


async def test_subscribe_is_idempotent(bus: Bus) -> None:
    received: list[bytes] = []
    bus.set_handler(lambda _channel, payload: received.append(payload))
    await bus.subscribe(["feed:a", "feed:a"])
    await bus.subscribe(["feed:a"])
    await bus.publish("feed:a", b"x")
    assert received == [b"x"]
