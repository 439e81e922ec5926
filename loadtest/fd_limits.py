"""Open-file limits for a fleet: every simulated device holds one socket in a worker process
and one in the server, so a large fleet needs far more than the usual 1,024.

The harness raises its own soft ``RLIMIT_NOFILE`` to the hard limit at start (the workers
and the server it starts inherit it, and each worker raises its own too), then checks that
the hard limit covers the fleet; when it does not, the run stops before anything starts,
with a message saying what to change and to what.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from pathlib import Path

WORKER_FD_HEADROOM = 256
"""Files a worker holds besides its devices' sockets: the interpreter's, pipes, the HTTP
pool of HTTP-only devices, sockets of reconnecting devices not yet closed."""

SERVER_FD_HEADROOM = 1024
"""Files the spawned server holds besides device sockets: the database, the log, the
listening socket, REST and console connections, sockets closing after a reconnect."""

NR_OPEN_PATH = Path("/proc/sys/fs/nr_open")


class FdLimitTooLow(RuntimeError):
    """The open-file limit cannot hold the fleet; the message says what to change."""


@dataclass(frozen=True)
class FdNeeds:
    """Open files each process of a run needs."""

    worker: int
    server: int | None
    """None when the fleet drives a server it did not start (``--url``)."""

    @property
    def largest(self) -> int:
        return max(self.worker, self.server or 0)


def fd_needs(devices: int, workers: int, spawns_server: bool) -> FdNeeds:
    per_worker = math.ceil(devices / max(1, workers)) + WORKER_FD_HEADROOM
    return FdNeeds(worker=per_worker, server=devices + SERVER_FD_HEADROOM if spawns_server else None)


def nr_open() -> int | None:
    """The kernel's ceiling for any process's open-file limit (``fs.nr_open``), if readable."""
    try:
        return int(NR_OPEN_PATH.read_text())
    except (OSError, ValueError):
        return None


def raise_soft_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; the limit now in force.

    An unlimited hard limit is capped at ``fs.nr_open``, the most the kernel allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        target = nr_open() or soft
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def check_fd_limit(needs: FdNeeds, limit: int, devices: int, workers: int) -> None:
    """Raise :class:`FdLimitTooLow` when ``limit`` (the soft limit after raising it) is below
    what a process of the run needs, saying which process, how many, and what to change."""
    if limit >= needs.largest:
        return
    parts = [f"{math.ceil(devices / max(1, workers))} devices' sockets in each of {workers} worker processes"]
    if needs.server is not None:
        parts.append(f"{devices} in the server it starts")
    wanted = _round_up(needs.largest)
    ceiling = nr_open()
    lines = [
        f"{devices} devices need {needs.largest} open files in one process ({' and '.join(parts)}), "
        f"but the open-file limit here is {limit} (the hard limit; the fleet raised its soft limit to it).",
        f"Raise it to at least {needs.largest}, then run the fleet again:",
        f"  - in the shell that runs it: ulimit -n {wanted}  (raising the hard limit needs root; for a user, "
        f"'* hard nofile {wanted}' in /etc/security/limits.conf, then log in again)",
        f"  - under systemd: LimitNOFILE={wanted} in the unit; in Docker: --ulimit nofile={wanted}:{wanted}",
    ]
    if ceiling is not None and ceiling < needs.largest:
        lines.append(f"  - the kernel caps every process at fs.nr_open = {ceiling}: sysctl -w fs.nr_open={wanted}")
    if needs.server is None or needs.worker > needs.server:
        lines.append(f"  - or spread the devices over more --workers (each holds its share; now {workers})")
    raise FdLimitTooLow("\n".join(lines))


def process_fd_limit(pid: int) -> int | None:
    """Another process's soft open-file limit, from ``/proc/PID/limits`` (None if unreadable)."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None


def _round_up(needed: int) -> int:
    """A round figure at or above ``needed``, for the suggested setting."""
    step = 1024 if needed < 16_384 else 8192
    return math.ceil(needed / step) * step
