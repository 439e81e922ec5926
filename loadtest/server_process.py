"""The caresync server the fleet drives, when the harness starts it itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from loadtest.fd_limits import raise_soft_limit
from loadtest.measure import free_port

START_TIMEOUT_S = 120.0
"""How long a (re)start may take: a restart in a storm answers /healthz while thousands of
devices are already knocking."""


class SpawnedServer:
    """``caresync serve`` on loopback, pinned to core 0 when the machine has two or more."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        port: int | None = None,
        extra_args: list[str] | None = None,
        pin: bool = True,
    ) -> None:
        self.database_url = database_url
        self.extra_args = extra_args or []
        self.pin = pin
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/device"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        """Start the server and wait until it answers. It inherits this process's open-file
        limit, raised to the hard limit first (one socket per device)."""
        raise_soft_limit()
        command = [sys.executable, "-m", "server.cli", "serve", "--database-url", self.database_url]
        command += ["--port", str(self.port), *self.extra_args]
        if self.pin and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            command = ["taskset", "-c", "0", *command]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server did not answer /healthz within {START_TIMEOUT_S:.0f} s")

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
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
