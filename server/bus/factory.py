"""Choosing the bus backend from the settings, so nothing else names a backend class."""

from __future__ import annotations

from server.bus.base import Bus
from server.bus.memory import MemoryBus
from server.bus.redis import RedisBus


def bus_for(redis_url: str | None) -> Bus:
    """Redis pub/sub when a URL is given (a cluster), else the in-process bus (embedded)."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
