"""numba compilation of the engine's per-request loops, with the plain-Python fallback (one place).

The rate-limit admission loop (rate_limits._admit_attempts) and the dedicated replica stage
(dedicated._serve_replicas) are written once as plain Python over arrays and compiled with
numba's ``njit(cache=True, nogil=True)`` (no fastmath: the simpy engine's IEEE operations, in
its order). numba is imported on first use, not with simlib; where it is missing or not
importable (Pyodide) the function itself runs, with the same results.
"""

from __future__ import annotations

from typing import Callable


def compile_loop(fn: Callable) -> tuple[Callable, bool]:
    """(the compiled function, True), or (``fn``, False) without numba.

    Its machine code is loaded from numba's on-disk cache (compiled on a machine's first run);
    where numba finds no writable cache directory, it compiles in each process instead.
    """
    try:
        from numba import njit
    except ImportError:  # not installed or not importable on this platform: plain Python, same results
        return fn, False
    try:
        return njit(cache=True, nogil=True)(fn), True
    except RuntimeError:  # no writable cache directory
        return njit(nogil=True)(fn), True
