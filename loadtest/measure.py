"""Measurements of processes and distributions for fleet reports."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    user, system = cpu_split_s(pid)
    return user + system


def cpu_split_s(pid: int) -> tuple[float, float]:
    """A process's CPU seconds so far, all its threads: (in its own code, in the kernel for it)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_ns_live_threads(pid: int) -> int:
    """Nanoseconds on a CPU so far, summed over the process's live threads (the scheduler's
    own count, ``/proc/PID/task/*/schedstat``): finer than :func:`cpu_s`'s clock ticks (10 ms),
    but a thread that has ended is no longer counted, so use it across spans where the
    process's threads stay (an event loop and its database threads)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between the listing and the read
    return total


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``th percentile (nearest rank), or None with no values (never NaN)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def listen_queue_overflows() -> dict[str, int]:
    """The kernel's counts, for the whole machine, of connections a full accept queue turned
    away (``ListenOverflows``) and of SYNs dropped at a listening socket (``ListenDrops``,
    overflows included), from ``/proc/net/netstat``; empty when unreadable."""
    try:
        with open("/proc/net/netstat") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counts = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {key: int(counts[key]) for key in ("ListenOverflows", "ListenDrops") if key in counts}
    return {}
