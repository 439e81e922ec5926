"""Server settings from flags and ``CARESYNC_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///./caresync.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: os.environ.get("CARESYNC_DATABASE_URL", DEFAULT_DATABASE_URL))
    redis_url: str | None = field(default_factory=lambda: os.environ.get("CARESYNC_REDIS_URL") or None)
    """Unset: the in-process bus (one node). Set: Redis pub/sub shared by every node."""
    node_id: str = field(default_factory=lambda: os.environ.get("CARESYNC_NODE_ID", ""))
    """Names this node in the cluster tables; empty means a random id at start."""
    host: str = "127.0.0.1"
    port: int = 8000
    heartbeat_interval_s: float = 25.0
    """Sent to devices in ``welcome``. 25 s keeps carrier NAT mappings (often 30 s+) open
    while letting a phone's radio sleep between beats."""
    hello_timeout_s: float = 10.0
    ack_flush_interval_s: float = 0.1
    """How long acks (and presence changes) linger in memory to be written together."""
    mismatch_interval_s: float = 10.0
    """How often (once per cluster) the sync-mismatch detector runs; 0 turns it off."""
    retention_interval_s: float = 3600.0
    """How often (once per cluster) feed retention and snapshot expiry run."""
    send_queue_limit: int = 2000
    """Frames queued for one socket before it counts as a slow consumer and is closed."""
    max_consecutive_errors: int = 20
    max_unacked: int = 2000
    """Pushed changes a device may leave unacknowledged before it is closed as a slow consumer
    (4001; it reconnects and resumes)."""
