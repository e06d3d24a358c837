"""Process-wide allocator setting for model runs (glibc ``mallopt``), shared by the CLI and sweeps.

A bottom-layer module: it imports nothing from accelsim, so any layer that owns its process (the
``accelsim simulate`` command, a sweep worker) can call :func:`tune_allocator`.
"""

from __future__ import annotations

import os
import sys

_TUNED = False


def tune_allocator() -> bool:
    """Let glibc keep freed large blocks in the process instead of unmapping them (once per process).

    The hardware models allocate and free large temporary arrays for every layer; by default glibc
    serves blocks above a (dynamic) threshold with fresh ``mmap`` pages and returns them on ``free``,
    so every layer pays page faults and page zeroing in the kernel, and worker *threads* (Dask runs
    tasks in a thread) get their own arenas that do so even more. Measured on ResNet-50 systolic
    sweeps: ~70% of the CPU time was system time (page faults); with the settings below the same
    points took ~3.9x less CPU. Settings (mallopt): one arena, mmap only above 32 MiB, grow the heap
    256 MiB at a time and trim it only above 512 MiB free (a worker may keep that much freed memory).
    Results do not change. Set ``ACCELSIM_MALLOC_TUNE=0`` to leave the allocator alone; a no-op
    where the C library is not glibc.
    """
    global _TUNED
    if _TUNED:
        return True
    _TUNED = True
    if os.environ.get("ACCELSIM_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # glibc only (musl has no mallopt tunables)
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold, m_arena_max = -1, -2, -3, -8
    ok = True
    for option, value in ((m_arena_max, 1), (m_mmap_threshold, 32 << 20), (m_trim_threshold, 512 << 20),
                          (m_top_pad, 256 << 20)):
        ok &= bool(libc.mallopt(option, value))
    return ok
