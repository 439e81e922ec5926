"""How many heaps glibc's allocator may keep for the node's threads.

glibc gives threads other than the main one heaps of their own ("arenas", up to eight per
core). The node's database threads (SQLite's connections and writer) allocate in theirs
while the event loop allocates in the main heap, and memory freed in one heap is not reused
by another: after a connect wave the node held about 6 KiB more per device with the default
than with two arenas (``bench.connect_waves_memory``, docs/benchmarks.md). The cap is set with
``mallopt`` before any thread starts; an operator's own ``MALLOC_ARENA_MAX`` wins, and on a
C library other than glibc nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the arena cap (malloc.h)."""


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's arenas at ``count`` (0: leave glibc's default); True when the cap was set."""
    if count <= 0 or "MALLOC_ARENA_MAX" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    libc = ctypes.CDLL(library, use_errno=True)
    return bool(libc.mallopt(M_ARENA_MAX, count))
