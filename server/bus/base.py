"""The bus contract every backend (in-process, Redis) implements.

The contract covers the whole lifecycle (start, reconnect notification, state, close), so
callers never need to know which backend they hold. Channel names live in
:mod:`server.bus.channels`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable

from server.bus.channels import device_effects_channel, feed_channel, staff_control_channel

__all__ = [
    "Bus",
    "BusState",
    "Handler",
    "ReconnectHook",
    "device_effects_channel",
    "feed_channel",
    "staff_control_channel",
]

Handler = Callable[[str, bytes], None]
"""Called on the event loop with (channel, payload) for each message; must not block."""

ReconnectHook = Callable[[], Awaitable[None]]
"""Awaited after the bus came back from an outage (messages meanwhile may be lost)."""


class BusState(enum.StrEnum):
    STARTING = "starting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    """The backend is unreachable; the bus retries with backoff. Publishes are lost."""
    CLOSED = "closed"


class Bus(abc.ABC):
    """At-most-once pub/sub. A lost message is tolerated: the store is the truth."""

    state: BusState = BusState.STARTING
    reconnects: int = 0
    """Times the bus came back after an outage."""
    publish_failures: int = 0
    """Publishes lost (after the one retry)."""
    _reconnect_hook: ReconnectHook | None = None

    @property
    def is_healthy(self) -> bool:
        """Whether the bus delivers now (for readiness and metrics)."""
        return self.state == BusState.CONNECTED

    def set_reconnect_hook(self, hook: ReconnectHook) -> None:
        """Awaited after every recovery from an outage; its failures are logged, never fatal."""
        self._reconnect_hook = hook

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, channel: str, payload: bytes) -> None:
        """Deliver ``payload`` to every subscriber of ``channel`` on every node."""

    @abc.abstractmethod
    async def subscribe(self, channels: list[str]) -> None:
        """Start receiving ``channels`` on this node (idempotent)."""

    @abc.abstractmethod
    async def unsubscribe(self, channels: list[str]) -> None:
        """Stop receiving ``channels`` on this node (idempotent)."""

    @abc.abstractmethod
    def set_handler(self, handler: Handler) -> None:
        """The node's single dispatcher for received messages."""

    async def ping(self) -> None:
        """Return if the bus can deliver now; raise otherwise (readiness checks call it)."""
        return None
