"""The shipped ``deploy/nginx.conf`` run by a real nginx on loopback, upstreams substituted.

Only what cannot work outside Docker is changed: the upstream addresses (compose service
names) become the test nodes' loopback ports, the listen port a free one, and the
process runs in the foreground with its pid and logs in a temporary folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.backing import _wait_port, free_port, require_or_skip

SHIPPED = Path(__file__).parents[2] / "deploy" / "nginx.conf"


def substituted(config: str, upstreams: list[int], port: int) -> str:
    """``config`` with its upstream servers replaced by loopback ports and ``listen`` by ``port``."""
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in upstreams)
    config, count = re.subn(
        r"(upstream caresync \{\n\s*least_conn;\n)(?:\s*server [^\n]+\n)+", rf"\g<1>{servers}", config
    )
    assert count == 1, "deploy/nginx.conf has no upstream block to substitute"
    config, count = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", config)
    assert count == 1, "deploy/nginx.conf does not listen on 8080"
    return config.replace("worker_processes auto;", "worker_processes 1;")


class Nginx:
    def __init__(self, upstreams: list[int], workdir: Path) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            require_or_skip("nginx is not installed: apt-get install nginx-light (CI installs it)")
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "nginx.conf"
        self.config.write_text(substituted(SHIPPED.read_text(), upstreams, self.port))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/device"

    def start(self) -> None:
        directives = f"daemon off; pid {self.workdir / 'nginx.pid'}; error_log {self.workdir / 'error.log'};"
        command = [self.binary, "-p", str(self.workdir), "-c", str(self.config), "-g", directives]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx rejects the shipped config: {check.stderr}"
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
