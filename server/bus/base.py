"""The bus contract every backend (in-process, Redis) implements."""

from __future__ import annotations

import abc
from collections.abc import Callable

Handler = Callable[[str, bytes], None]
"""Called on the event loop with (channel, payload) for each message; must not block."""


class Bus(abc.ABC):
    """At-most-once pub/sub. A lost message is tolerated: the store is the truth."""

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


def feed_channel(carer_id: str) -> str:
    return f"feed:{carer_id}"


def device_control_channel(device_id: str) -> str:
    return f"device:{device_id}"


def staff_control_channel(user_id: str) -> str:
    """Rung when a staff user's tokens change (sign-out, revocation, password change)."""
    return f"staff:{user_id}"
