"""Real PostgreSQL and Redis for tests: from environment URLs, else throwaway instances
started from the installed binaries, else a skip with the reason (a failure when
``CARESYNC_REQUIRE_SERVICES=1``, as in CI).

- ``CARESYNC_TEST_POSTGRES_URL``: an admin URL (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``);
  each test gets its own fresh database created through it.
- ``CARESYNC_TEST_REDIS_URL``: e.g. ``redis://127.0.0.1:6379/0``; tests use unique channel names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.store.database import async_url


def require_or_skip(reason: str) -> None:
    if os.environ.get("CARESYNC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class ThrowawayRedis:
    """A ``redis-server`` on a free loopback port, persisting nothing; can be restarted."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None


class ThrowawayPostgres:
    """An ``initdb`` cluster in a temporary folder on a free port (run as ``postgres`` if root)."""

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = bindir
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="caresync-pg-"))
        self.data = self.workdir / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "log"), "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server abruptly, keeping its data, so :meth:`resume` can start it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "log"), "-w", "start")


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return candidates[-1].parent if candidates else None


@contextlib.contextmanager
def postgres_admin_url() -> Iterator[str]:
    env = os.environ.get("CARESYNC_TEST_POSTGRES_URL")
    if env:
        yield env
        return
    try:
        server = ThrowawayPostgres()
        server.start()
    except (FileNotFoundError, subprocess.CalledProcessError, OSError) as exc:
        require_or_skip(f"no PostgreSQL: set CARESYNC_TEST_POSTGRES_URL or install its server ({exc})")
        return
    try:
        yield server.admin_url
    finally:
        server.stop()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    env = os.environ.get("CARESYNC_TEST_REDIS_URL")
    if env:
        yield env
        return
    try:
        server = ThrowawayRedis()
        server.start()
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        require_or_skip(f"no Redis: set CARESYNC_TEST_REDIS_URL or install redis-server ({exc})")
        return
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def fresh_postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    name = f"caresync_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = admin_url.rsplit("/", 1)[0]
        yield f"{base}/{name}"
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
