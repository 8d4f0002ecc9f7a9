"""glibc's allocator told to keep freed memory for the next training step.

A training step allocates the same large blocks every time (a 32-member GRU's input gates and
backward factors are 18 MB each) and frees them. glibc returns freed memory at the top of its
heap to the system past ``M_TRIM_THRESHOLD``, and serves blocks past ``M_MMAP_THRESHOLD`` with
a fresh ``mmap``; either way the next step writes to pages the kernel must fault in again. On
this project's CPU machines (Firecracker VMs) a fault costs about 7 us per 4 KB page, so a
1.5 KB-per-member broadcast multiply took 1.46 ms inside a run and 24 us warm. Raising both
thresholds once per process put a 32-member GRU population's epoch at 1.76-1.90 s from
2.35-2.93 s (``bench/RESULTS.md``, "Freed memory kept").

The settings are bounded: blocks up to 32 MB (glibc's own ceiling for its dynamic threshold)
come from the heap, and at most 256 MB of freed memory is kept at its top. They apply to the
whole process, once, only under glibc, and never over a user's own ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt's parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set the thresholds once per process; True when they are set (now or before)."""
    global _done
    if _done is None:
        _done = _set_thresholds()
    return _done


def _set_thresholds() -> bool:
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version    # glibc only: musl and macOS have no such thresholds
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the order keeps a refused second setting harmless.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
