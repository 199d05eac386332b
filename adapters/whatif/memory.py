"""Large array buffers reused within the process instead of mapped afresh (ADR 103).

The fast what-if allocates a few hundred arrays of a million rows each. glibc serves blocks
above its mmap threshold (128 KiB at start, raised as large blocks are freed, at most 32 MiB)
from pages mapped for them alone and unmapped when freed, so every such array costs fresh
pages: page faults, zeroing, and huge pages the kernel may have to compact memory for. In a
process's first what-if that was most of the difference to the later ones (2.0–2.4 s against
about 1 s on the 1.06 M-claim county). `reuse_freed_memory` sets the threshold above those
arrays and keeps freed memory in the heap up to a bound, so a block freed by one step is
reused by the next, from the first run on. Nothing is allocated or touched ahead of use.

It also stops NumPy advising huge pages for its large arrays: where the kernel compacts memory
for such advice (`transparent_hugepage/defrag` at `madvise`, the default), a fresh page of a
fragmented machine's memory could stall for milliseconds, and the first what-if took anywhere
from 0.44 to 1.1 s to settle and fold against 0.44–0.54 s without the advice; heap memory
reused costs neither.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import numpy as np

#: blocks below this come from the heap (ten million int64 rows)
MMAP_THRESHOLD = 256 << 20
#: free memory at the heap's top kept, not given back to the system
TRIM_THRESHOLD = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done: bool | None = None


def reuse_freed_memory() -> bool:
    """Ask the C library, once per process, to serve large blocks from its heap and keep
    freed ones for reuse; True where it did (glibc), False elsewhere (nothing changes)."""
    global _done
    if _done is None:
        _done = _mallopt()
        if _done:
            _no_huge_page_advice()
    return _done


def _no_huge_page_advice() -> None:
    """NumPy's switch for its huge-page advice (its NUMPY_MADVISE_HUGEPAGE at run time)."""
    switch = getattr(getattr(getattr(np, "_core", None), "multiarray", None),
                     "_set_madvise_hugepage", None)
    if switch is not None:
        switch(False)


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt of these)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
