"""glibc's heap thresholds for jobs: freed tensor memory kept for the next tensor of the same size.

By default glibc serves a large block (one batch's activation: 500 x 16 x 28 x 28 floats are 25 MB)
with a fresh mmap and gives it back to the kernel when it is freed, or trims the heap above twice the
last such size, so every new activation page-faults its memory in again. With both thresholds fixed
(`tune`), blocks up to 32 MB come from the heap and stay there. Same arithmetic, so the same bytes
(tests/runtime/test_malloc.py). Measured side by side (bench/malloc.py, the default small CNN, 1 thread): half
the page faults; a forward at batch 500 0.57-0.63x the time, input gradients 0.71-0.96x, a training
step at batch 64 unchanged (0.97-1.01x). Peak memory is what the job needs at its
peak either way; the job just does not shrink after it. QROBUST_MALLOC=0 keeps glibc's defaults.
No torch here: the CLI calls it before a job's first line.
"""
from __future__ import annotations

import os

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # the most glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**30       # free memory the heap keeps at its top before it returns the rest


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name (macOS, musl)
        return False


def tune() -> bool:
    """Set both thresholds in this process (and the processes it forks); whether they were set:
    False off glibc (macOS, musl), or with QROBUST_MALLOC=0."""
    if os.environ.get("QROBUST_MALLOC", "1") == "0" or not _glibc():
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
