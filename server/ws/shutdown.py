"""The close a node's own shutdown sends its sockets: 4000 with a reconnect hint."""

from __future__ import annotations

import random

RECONNECT_JITTER_MS = 1000
"""The close reason suggests a random delay up to this before reconnecting."""


def shutdown_reason() -> str:
    """The 4000 close reason: what happened and a suggested reconnect delay."""
    return f"server shutting down; reconnect_after_ms={random.randint(0, RECONNECT_JITTER_MS)}"
