"""When a device stops trusting a quiet socket (docs/protocol.md §3, step 6).

A NAT or proxy that dropped a connection without a word leaves a socket that looks open:
nothing arrives, pushes included. The server sends a ``heartbeat`` every
``welcome.heartbeat_interval_s``; a device that hears nothing at all for two of them and
a margin treats the connection as lost and reconnects.
"""

from __future__ import annotations

SILENCE_MARGIN_S = 5.0
"""Room for a slow network and a busy node beyond two missed heartbeats."""


def silence_limit_s(heartbeat_interval_s: float) -> float:
    """Seconds without any frame on a welcomed socket after which it is lost."""
    return 2 * heartbeat_interval_s + SILENCE_MARGIN_S
