"""Open-file limits: the fleet raises its soft limit to the hard one, and a fleet the hard
limit cannot hold stops before anything starts, saying what to change."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import fd_limits
from loadtest.fd_limits import FdLimitTooLow, FdNeeds, check_fd_limit, fd_needs, process_fd_limit


def _with_limits(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_is_raised_to_the_hard_limit_in_a_process_that_lowered_it() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 4096)
    script = (
        "import resource; from loadtest.fd_limits import raise_soft_limit; "
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], raise_soft_limit(), "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: _with_limits(256, wanted),
        check=True,
    )
    assert done.stdout.split() == ["256", str(wanted), str(wanted)]


def test_a_fleet_the_hard_limit_cannot_hold_stops_before_it_starts_and_says_what_to_change(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "server.cli", "fleet", "--devices", "2000", "--workers", "2"]
    command += ["--report", str(tmp_path / "report")]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        preexec_fn=lambda: _with_limits(100, 512),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr
    assert message.startswith("caresync fleet: 2000 devices need 3024 open files in one process"), message
    assert "1000 devices' sockets in each of 2 worker processes and 2000 in the server it starts" in message
    assert "the open-file limit here is 512 (the hard limit" in message
    assert "ulimit -n 3072" in message and "LimitNOFILE=3072" in message and "nofile=3072:3072" in message
    assert not (tmp_path / "report").exists(), "nothing ran"
    assert not list(tmp_path.iterdir())


def test_what_each_process_needs() -> None:
    assert fd_needs(50_000, 2, spawns_server=True) == FdNeeds(worker=25_256, server=51_024)
    assert fd_needs(50_000, 3, spawns_server=False) == FdNeeds(worker=16_923, server=None)
    check_fd_limit(FdNeeds(worker=25_256, server=51_024), 51_024, 50_000, 2)  # enough: no error


def test_a_driven_server_leaves_only_the_workers_to_check_and_more_workers_are_suggested() -> None:
    with pytest.raises(FdLimitTooLow) as refused:
        check_fd_limit(fd_needs(50_000, 2, spawns_server=False), 20_000, 50_000, 2)
    message = str(refused.value)
    assert message.startswith("50000 devices need 25256 open files in one process (25000 devices' sockets")
    assert "in the server" not in message
    assert "ulimit -n 32768" in message
    assert "spread the devices over more --workers (each holds its share; now 2)" in message


def test_the_kernel_ceiling_is_named_when_the_fleet_needs_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ceiling = tmp_path / "nr_open"
    ceiling.write_text("40000\n")
    monkeypatch.setattr(fd_limits, "NR_OPEN_PATH", ceiling)
    with pytest.raises(FdLimitTooLow, match=r"fs.nr_open = 40000: sysctl -w fs.nr_open=57344"):
        check_fd_limit(fd_needs(50_000, 2, spawns_server=True), 20_000, 50_000, 2)


def test_another_process_limit_is_read_from_proc() -> None:
    assert process_fd_limit(os.getpid()) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert process_fd_limit(2**22 + 12345) is None


def test_the_server_the_fleet_starts_gets_the_raised_limit(tmp_path: Path) -> None:
    """Started from a process whose soft limit is 256, the server holds the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 4096)
    script = f"""
import asyncio
from pathlib import Path
from loadtest.fd_limits import process_fd_limit
from loadtest.server_process import SpawnedServer

async def main() -> None:
    server = SpawnedServer("sqlite:///{tmp_path / "fleet.db"}", Path("{tmp_path / "serve.log"}"), pin=False)
    await server.start()
    try:
        print(process_fd_limit(server.pid))
    finally:
        server.stop()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _with_limits(256, wanted),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(wanted)]
