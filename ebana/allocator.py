"""Process-level glibc malloc tuning for the numpy hot loop.

A training step allocates many temporaries of 0.1–5 MB. With glibc's defaults each one is
``mmap``-ed and returned to the OS when freed, so every step pays thousands of page faults
(measured: concatenating two 128x784 float64 arrays takes 3.3 ms instead of 0.17 ms).
Raising the mmap and trim thresholds keeps freed blocks in the heap for reuse. Memory is
still released when the process ends; peak RSS is unchanged. No effect off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["tune_malloc"]

logger = logging.getLogger(__name__)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def tune_malloc() -> bool:
    """Keep large freed blocks for reuse (idempotent). Returns True if glibc accepted it."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(opt, val) == 1 for opt, val in (
            (_M_MMAP_THRESHOLD, 32 * 2**20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 * 2**20)))
    except (OSError, AttributeError):
        ok = False
    _done = ok
    logger.debug("glibc malloc tuning %s", "applied" if ok else "not available")
    return ok
