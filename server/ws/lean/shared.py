"""What a node's lean device connections share: timings, framed texts, frame readings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from server.observability.sockets import FrameReadings
from server.settings import Settings
from server.ws.lean.deadlines import Deadlines
from server.ws.lean.framed import FramedTexts
from server.ws.shutdown import shutdown_reason


@dataclass(frozen=True, slots=True)
class LeanSettings:
    """The timings a device connection keeps (seconds; 0 turns the keepalive off)."""

    hello_timeout_s: float
    ping_interval_s: float
    ping_timeout_s: float
    probe_every_s: float
    """How often connections owing a word from their peer are pinged (the delivery probe)."""
    probe_timeout_s: float
    """...and how long a probed connection has to answer before it is closed 4001."""

    @classmethod
    def of(cls, settings: Settings) -> LeanSettings:
        stall = settings.send_stall_s
        return cls(
            hello_timeout_s=settings.hello_timeout_s,
            ping_interval_s=settings.ws_ping_interval_s,
            ping_timeout_s=settings.ws_ping_timeout_s,
            probe_every_s=stall / 4,
            probe_timeout_s=stall - stall / 4,
        )


class Probed(Protocol):
    def probe(self) -> None: ...


class Shared:
    """One node's state for all its device connections."""

    def __init__(self, settings: LeanSettings) -> None:
        self.settings = settings
        self.framed = FramedTexts()
        self.readings = FrameReadings()
        """A fan-out's text is read once (type, change header) for every socket's metrics."""
        self.connections: set[Any] = set()
        """uvicorn's set of open connections (the connection cap counts it; shutdown walks it)."""
        self.chores: set[asyncio.Task[None]] = set()
        """Closes started from timers (kept until done)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listed: list[Probed] = []
        """Connections to probe at the next sweep."""
        self._sweep: asyncio.TimerHandle | None = None
        self.deadlines = Deadlines(lambda: self.loop)
        """Every connection's hello, keepalive and pong deadline, on one loop timer."""

    def list_for_probe(self, connection: Probed) -> None:
        """Probe ``connection`` at the next sweep (within ``probe_every_s``)."""
        self._listed.append(connection)
        if self._sweep is None:
            self._sweep = self.loop.call_later(self.settings.probe_every_s, self.sweep)

    def sweep(self) -> None:
        """Probe the connections listed since the last sweep: one timer for the node, not
        one per connection written to."""
        listed, self._listed = self._listed, []
        self._sweep = None
        for connection in listed:
            connection.probe()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def shutdown_reason(self) -> str:
        return shutdown_reason()
