"""What the client under test says it holds: the answer to the adapter's ``state`` op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientState:
    connected: bool
    positions: dict[str, tuple[int, int]]
    """``{feed: (epoch, seq)}`` of every feed the client tracks, as durably stored."""
    visits: dict[str, dict[str, int]]
    """``{feed: {visit id: version}}`` of the visits held."""
    outbox: int
    """Recordings not yet answered by the node."""
    stopped: int | None
    """The terminal close code the client stopped on, if it stopped."""

    @classmethod
    def parse(cls, answer: dict[str, Any]) -> ClientState:
        positions = {str(f["feed"]): (int(f["epoch"]), int(f["seq"])) for f in answer.get("feeds", [])}
        visits: dict[str, dict[str, int]] = {feed: {} for feed in positions}
        for visit in answer.get("visits", []):
            visits.setdefault(str(visit["feed"]), {})[str(visit["id"])] = int(visit["version"])
        stopped = answer.get("stopped")
        return cls(
            connected=bool(answer.get("connected")),
            positions=positions,
            visits=visits,
            outbox=int(answer.get("outbox", 0)),
            stopped=int(stopped["code"]) if isinstance(stopped, dict) and "code" in stopped else None,
        )

    def summary(self) -> str:
        where = ", ".join(f"{feed[:8]}… at {e}:{s}" for feed, (e, s) in sorted(self.positions.items())) or "no feeds"
        held = sum(len(v) for v in self.visits.values())
        return f"connected={self.connected}, {where}, {held} visits, outbox {self.outbox}" + (
            f", stopped on {self.stopped}" if self.stopped else ""
        )
