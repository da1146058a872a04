"""Keep freed memory in the process for the next training step (Linux with glibc).

A training step allocates and frees the same large arrays every time: gates, states and
gradients of every time step. glibc's malloc hands freed blocks back to the operating system
(blocks over its mmap threshold at once, the top of its heap when more than its trim threshold
is free), so the next step faults every page back in; with transparent huge pages the kernel
zeroes 2 MB per fault. On this project's 2-core machine that was 1,000-1,500 page faults per
training step and a quarter of its time (fused charlm LSTM 73 -> 58 ms, composed seed LSTM
167 -> 128 ms, with no faults left).

So importing tinygrad_seq asks malloc (`mallopt`) to serve blocks under 32 MB (the most older
glibc accepts) from its heap and to keep up to 256 MB of free heap for reuse. That memory stays
counted in the process's resident size until it is used again, and a heap can only shrink from
its top, so a long-running process may keep more. TINYGRAD_SEQ_MALLOC=default in the environment
leaves malloc as it is; on other C libraries nothing changes.
"""
import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory():
    """Tell glibc's malloc to keep freed memory for reuse; False where that is not possible."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mmap_set = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_set = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


def _from_environment():
    setting = os.environ.get("TINYGRAD_SEQ_MALLOC", "keep").strip().lower()
    if setting not in ("keep", "default"):
        raise ValueError(f"TINYGRAD_SEQ_MALLOC must be 'keep' or 'default', got {setting!r}")
    if setting == "keep":
        keep_freed_memory()
