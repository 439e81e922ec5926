"""The faults the proxy applies to what the node sends the client, set by the cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.conformance.frame_log import SeenFrame

FrameHook = Callable[[SeenFrame], None]
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Faults:
    refusing: bool = False
    """The network is down: new connections are cut at once (open ones are left alone)."""
    delay_s: float = 0.0
    """Every frame from the node is held this long before it is passed on."""
    drop_change_seqs: set[int] = field(default_factory=set)
    """Pushed ``change`` frames with these seqs are dropped (each once), making a gap."""
    duplicate_change_seqs: set[int] = field(default_factory=set)
    """Pushed ``change`` frames with these seqs are passed on twice (each once)."""
    drop_types: set[str] = field(default_factory=set)
    """Frames from the node of these types are dropped (every one, while set)."""
    cut_mid_frame: bool = False
    """The next frame from the node is cut halfway and the connection dropped (once)."""
    silenced: set[int] = field(default_factory=set)
    """Connections (the proxy's numbers) on which nothing from the node passes any more, not
    even a ping's answer or a close: a NAT that dropped the connection without a word."""
    rewrite: Rewrite | None = None
    """Applied to every JSON frame from the node before it is passed on."""
    on_device_frame: list[FrameHook] = field(default_factory=list)
    """Called with each frame from the client, after it was passed on to the node."""
    on_server_frame: list[FrameHook] = field(default_factory=list)
    """Called with each frame from the node, after it was passed on to the client."""

    def take_drop(self, body: dict[str, Any] | None) -> bool:
        return _take(self.drop_change_seqs, body)

    def take_duplicate(self, body: dict[str, Any] | None) -> bool:
        return _take(self.duplicate_change_seqs, body)


def _take(seqs: set[int], body: dict[str, Any] | None) -> bool:
    if body is None or body.get("type") != "change":
        return False
    seq = body.get("seq")
    if isinstance(seq, int) and seq in seqs:
        seqs.discard(seq)
        return True
    return False
