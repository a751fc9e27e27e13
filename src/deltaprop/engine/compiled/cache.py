"""The compiled kernels' state: built in this process, on disk in Numba's cache, or neither.

Numba writes each compiled kernel to a cache beside its source (``__pycache__``), or, where
that folder is read-only (a system-wide install), to a per-user folder (``~/.cache/numba`` or
``NUMBA_CACHE_DIR``): the first run on an install builds them, later ones load them.
:func:`is_ready` asks, without building anything, whether a kernel is built for some argument
types or can be loaded from that cache, so that "auto" knows what the compiled engine would
cost now.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

STAMP = "deltaprop-kernels.sha256"


def drop_stale(kernels: list[Any], sources: list[Path]) -> None:
    """Remove the cached code of ``kernels`` if any of ``sources`` changed since it was cached.

    Numba keys a cached kernel by the time stamp of its own file only, not by the files of the
    functions it calls and compiles in: after a change to :mod:`.dense` alone, the run kernel
    would load its old code. So a digest of every kernel source is stamped beside the cache;
    when it differs, the entry points' cache files go. (A folder where nothing can be written
    is left alone: Numba then caches elsewhere, or not at all.)
    """
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    folder = Path(kernels[0]._cache._cache_path)
    stamp = folder / STAMP
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for kernel in kernels:
            prefix = f"{kernel.py_func.__module__.rsplit('.', 1)[-1]}.{kernel.py_func.__name__}-"
            for path in folder.glob(f"{prefix}*.nb[ic]"):
                path.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        return


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
