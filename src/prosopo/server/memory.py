"""Keep a long-running server's memory from creeping.

glibc gives threads that allocate at the same time separate malloc arenas
(up to eight per core), and memory freed into one arena is not reused by
another, so a threaded server's resident memory creeps up long after its
caches are warm. Measured here (``benchmarks/server_load.py``, one worker,
10,000 ``/v1/verify`` requests): with glibc's default, 324 MB after 1,000
requests and 352 MB after 10,000; with two arenas, 290 MB and 309 MB, and
throughput rose from 22.8 to 25.8 requests/s. It still grows in steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas() -> bool:
    """Cap glibc's arenas for this process and (through the environment)
    for the worker processes it starts. False where libc is not glibc."""
    os.environ.setdefault("MALLOC_ARENA_MAX", str(ARENAS))
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, ARENAS))
    except (OSError, AttributeError):
        return False
