"""Give freed memory back to the operating system (glibc only; elsewhere a no-op).

Readers free many mid-sized numpy buffers while they build the final columns.
glibc keeps such freed blocks in its heap (its mmap threshold rises after the
first large free), so the resident set would hold the data twice.
``malloc_trim(0)`` returns the free pages; it costs well under a millisecond
and is called only between large copy steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release() -> None:
    """Return free heap pages to the OS, where the C library allows it."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
