"""What passed between the node and the client under test, in order, as the proxy saw it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["device", "server", "proxy"]
"""``device``: sent by the client; ``server``: sent by the node; ``proxy``: a fault the kit injected."""
MAX_TEXT_CHARS = 2000
"""A frame longer than this is kept cut, with its length, in the log."""


@dataclass(frozen=True)
class SeenFrame:
    at_s: float
    """Seconds since the case started."""
    direction: Direction
    connection: int
    """The proxy's number for the TCP connection (1, 2, ...)."""
    text: str
    body: dict[str, Any] | None = None
    """The frame's JSON object when it is one."""
    size: int = 0
    """The whole frame's length in bytes of UTF-8 (``text`` may be cut)."""

    @property
    def type(self) -> str | None:
        value = self.body.get("type") if self.body else None
        return value if isinstance(value, str) else None

    def position_of(self, feed: str) -> tuple[int, int] | None:
        """The ``(epoch, seq)`` this frame (a ``hello`` or ``sync_request``) gives for ``feed``."""
        for position in (self.body or {}).get("positions", []):
            if isinstance(position, dict) and position.get("feed") == feed:
                return int(position["epoch"]), int(position["seq"])
        return None

    def as_json(self) -> dict[str, object]:
        return {
            "at_s": round(self.at_s, 3),
            "direction": self.direction,
            "connection": self.connection,
            "text": self.text,
        }


@dataclass
class FrameLog:
    started: float = field(default_factory=time.monotonic)
    frames: list[SeenFrame] = field(default_factory=list)

    def add(self, direction: Direction, connection: int, text: str) -> SeenFrame:
        body = json_object(text)
        shown = text if len(text) <= MAX_TEXT_CHARS else f"{text[:MAX_TEXT_CHARS]}… ({len(text)} chars)"
        seen = SeenFrame(time.monotonic() - self.started, direction, connection, shown, body, len(text.encode()))
        self.frames.append(seen)
        return seen

    def note(self, connection: int, text: str) -> None:
        """Something the proxy did or saw that is not a frame (a connection, a cut, a close)."""
        self.add("proxy", connection, text)

    def of_type(self, frame_type: str, direction: Direction | None = None) -> list[SeenFrame]:
        return [f for f in self.frames if f.type == frame_type and (direction is None or f.direction == direction)]

    def matching(self, predicate: Callable[[SeenFrame], bool]) -> list[SeenFrame]:
        return [f for f in self.frames if predicate(f)]


def json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
