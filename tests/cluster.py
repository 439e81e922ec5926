"""Running ``caresync serve`` processes for multi-node tests, as docker-compose would."""

from __future__ import annotations

from pathlib import Path

from loadtest.server_process import SpawnedServer


class ServeProcess(SpawnedServer):
    """One ``caresync serve`` node on a free loopback port, optionally sharing Redis."""

    def __init__(
        self,
        database_url: str,
        redis_url: str | None,
        node_id: str,
        log_dir: Path,
        heartbeat_s: float = 0.5,
        mismatch_interval_s: float = 10.0,
    ) -> None:
        extra = [*(["--redis-url", redis_url] if redis_url else []), "--node-id", node_id]
        extra += ["--heartbeat", str(heartbeat_s), "--mismatch-interval", str(mismatch_interval_s)]
        super().__init__(database_url, log_dir / f"{node_id}.log", extra_args=extra, pin=False)
        self.node_id = node_id
