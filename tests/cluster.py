"""Running ``caresync serve`` processes for multi-node tests, as docker-compose would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.backing import free_port


class ServeProcess:
    """One ``caresync serve`` node on a free loopback port."""

    def __init__(
        self,
        database_url: str,
        redis_url: str | None,
        node_id: str,
        log_dir: Path,
        heartbeat_s: float = 0.5,
        mismatch_interval_s: float = 10.0,
    ):
        self.database_url = database_url
        self.redis_url = redis_url
        self.node_id = node_id
        self.port = free_port()
        self.heartbeat_s = heartbeat_s
        self.mismatch_interval_s = mismatch_interval_s
        self.log_path = log_dir / f"{node_id}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/device"

    def spawn(self) -> None:
        command = [
            sys.executable, "-m", "server.cli", "serve",
            "--database-url", self.database_url,
            *(["--redis-url", self.redis_url] if self.redis_url else []),
            "--node-id", self.node_id,
            "--port", str(self.port),
            "--heartbeat", str(self.heartbeat_s),
            "--mismatch-interval", str(self.mismatch_interval_s),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})

    async def start(self) -> None:
        """Spawn the node and wait until it answers /healthz."""
        self.spawn()
        assert self.process is not None
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise RuntimeError(f"node {self.node_id} exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if (await http.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"node {self.node_id} did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, sockets just die."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
