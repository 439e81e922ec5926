"""The node's cap on glibc's heaps: counted from glibc's own report in a fresh process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from server.malloc_arenas import limit_malloc_arenas

_THREADS_ALLOCATING = """
import ctypes, ctypes.util, sys, threading
from server.malloc_arenas import limit_malloc_arenas
applied = limit_malloc_arenas(int(sys.argv[1]))
held = []
together = threading.Barrier(6)
def allocate():
    together.wait()  # all alive at once: an ended thread's heap is handed to the next one
    held.append([bytearray(4096) for _ in range(64)])
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print("applied" if applied else "not applied", flush=True)
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is glibc's (mallopt)")


def _arenas(cap: int, **environ: str) -> tuple[str, int]:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"} | environ
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATING, str(cap)], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


@glibc_only
def test_threads_share_the_capped_heaps() -> None:
    assert _arenas(1) == ("applied", 1)
    said, arenas = _arenas(0)
    assert said == "not applied"
    assert arenas > 2, "with glibc's default each thread gets a heap of its own"


@glibc_only
def test_the_operators_own_variable_wins() -> None:
    said, arenas = _arenas(1, MALLOC_ARENA_MAX="4")
    assert said == "not applied"
    assert 1 < arenas <= 4


def test_zero_leaves_the_default() -> None:
    assert limit_malloc_arenas(0) is False
