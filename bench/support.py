"""Helpers for benchmarks: free ports, pinned subprocesses, CPU time, percentiles."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn_pinned(args: list[str], core: int | None) -> subprocess.Popen[bytes]:
    """Start ``python args`` pinned to ``core`` (when taskset and the core exist)."""
    command = [sys.executable, *args]
    if core is not None and shutil.which("taskset") and core < (os.cpu_count() or 1):
        command = ["taskset", "-c", str(core), *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def pin_self(core: int | None) -> None:
    if core is not None and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def self_cpu_s() -> float:
    return time.process_time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (
        f"n={len(values)} p50={percentile(values, 50):.2f} ms p99={percentile(values, 99):.2f} ms "
        f"max={max(values) if values else float('nan'):.2f} ms mean={statistics.fmean(values) if values else 0:.2f} ms"
    )
