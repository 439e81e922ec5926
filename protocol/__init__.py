"""caresync wire protocol: frames, codec, error and close codes, the sequence tracker.

This package is sans-I/O: it never touches sockets, clocks or randomness. Times and ids
are passed in by the caller, so the same code runs in the server, the device SDK and
the load generator.
"""

from protocol.limits import MAX_FRAME_BYTES

__all__ = ["MAX_CHANGES_PER_PAGE", "MAX_FRAME_BYTES", "MAX_MUTATIONS_PER_SYNC", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
"""Bumped when a frame changes incompatibly; sent by the device in ``hello``."""


MAX_MUTATIONS_PER_SYNC = 200
"""Most mutations one ``sync_request`` may carry; split larger outboxes."""

MAX_CHANGES_PER_PAGE = 500
"""Most changes one ``sync_response`` page returns; ``more`` says another page waits."""
