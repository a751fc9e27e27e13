"""The compiled kernels' state: built in this process, on disk in Numba's cache, or neither.

Numba writes each compiled kernel to a cache beside its source (``__pycache__``), or, where
that folder is read-only (a system-wide install), to a per-user folder (``~/.cache/numba`` or
``NUMBA_CACHE_DIR``): the first run on an install builds them, later ones load them.
:func:`is_ready` asks, without building anything, whether a kernel is built for some argument
types or can be loaded from that cache, so that "auto" knows what the compiled engine would
cost now.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def numba_loaded() -> bool:
    """Whether Numba is imported in this process already (importing it costs ~0.3 s)."""
    return "numba" in sys.modules


def is_ready(kernel: Any, types: tuple[Any, ...]) -> bool:
    """Whether the Numba dispatcher ``kernel`` is built for argument ``types`` in this process,
    or loads from the disk cache (then it is loaded now)."""
    if types in kernel.overloads:
        return True
    if kernel._cache.load_overload(types, kernel.targetctx) is None:  # Dispatcher.compile's first look
        return False
    kernel.compile(types)  # from the cache: a load, not a build
    return True


def build(kernel: Any, types: tuple[Any, ...]) -> float:
    """Build ``kernel`` for argument ``types`` (or load it); return the seconds it took."""
    began = time.perf_counter()
    if types not in kernel.overloads:
        kernel.compile(types)
    return time.perf_counter() - began
