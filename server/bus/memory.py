"""The in-process bus of the embedded default: one node, no network."""

from __future__ import annotations

from server.bus.base import Bus, BusState, Handler


class MemoryBus(Bus):
    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._handler: Handler | None = None

    async def start(self) -> None:
        self.state = BusState.CONNECTED

    async def close(self) -> None:
        self._channels.clear()
        self.state = BusState.CLOSED

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._handler is not None and channel in self._channels:
            self._handler(channel, payload)

    async def subscribe(self, channels: list[str]) -> None:
        self._channels.update(channels)

    async def unsubscribe(self, channels: list[str]) -> None:
        self._channels.difference_update(channels)

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler
