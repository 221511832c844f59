"""How the CPU primitives use two cores: BLAS held at one thread, work split in two.

OpenBLAS's own threads synchronise many times inside one long GEMM; on a
loaded 2-core machine each wait can cost a scheduler time slice (a 4 ms GEMM
was seen taking 800 ms). So during a pass BLAS is held at one thread
(through threadpoolctl, when installed) and each all-time product is split
once into two row halves, one run by a helper thread: NumPy's GEMM, ufuncs
and random fills and SciPy's csr_matvecs all release the GIL.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

PARALLEL_MIN = 1 << 19  # work items (multiply-adds) below which one thread wins
STEP_PARALLEL_MIN = 1 << 22  # the same for a product run once per time step, T times

_POOL = None  # (pid, executor): a forked child makes its own
_CONTROLLER = None
_HELD = 0  # > 0 inside single_threaded_blas while BLAS is held
_HOLD_LOCK = threading.RLock()


def threads() -> int:
    """Threads for the split work: REFRNN_THREADS if set, else min(2, cores).

    The work is split in two at most, so any value above 2 acts as 2.
    """
    env = os.environ.get("REFRNN_THREADS", "").strip()
    if not env:
        return min(2, os.cpu_count() or 1)
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"REFRNN_THREADS must be a positive integer, got {env!r}")
    return int(env)


def helper():
    """The one helper thread, created on first use (again after a fork)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="refrnn"))
    return _POOL[1]


def parallel(work: float, uses_blas: bool = True, least: float = None) -> bool:
    """True when ``work`` multiply-adds are worth a hand-off to the helper:
    two threads allowed, enough work, not already on the helper, and (for
    work that calls BLAS) BLAS held at one thread, since two GEMMs each on two
    BLAS threads would oversubscribe the cores. Without threadpoolctl only
    the sparse products (no BLAS) are split."""
    if work < (PARALLEL_MIN if least is None else least) or (uses_blas and _HELD <= 0) or threads() < 2:
        return False
    return not threading.current_thread().name.startswith("refrnn")


def halves(n: int):
    """The two row ranges every CPU row split uses: (0, n // 2), (n // 2, n)."""
    return ((0, n // 2), (n // 2, n))


def one_part(fn, n: int, work: float) -> None:
    """The plain row split: fn(0, 0, n), the whole range in one call."""
    fn(0, 0, n)


def row_parts(fn, n: int, work: float, least: float = None) -> None:
    """Run fn(part, r0, r1) for both halves(n), the second on the helper
    thread when parallel(work, least=least)."""
    (a0, a1), (b0, b1) = halves(n)
    if a1 == a0 or not parallel(work, least=least):
        fn(0, a0, a1)
        fn(1, b0, b1)
        return
    job = helper().submit(fn, 1, b0, b1)
    fn(0, a0, a1)
    job.result()


@contextlib.contextmanager
def single_threaded_blas():
    """Hold NumPy's BLAS at one thread (no-op without threadpoolctl)."""
    global _CONTROLLER, _HELD
    if _CONTROLLER is None:
        try:
            import threadpoolctl

            _CONTROLLER = threadpoolctl.ThreadpoolController()
        except Exception:  # absent or unusable: keep BLAS as it is
            _CONTROLLER = False
    if _CONTROLLER is False:
        yield
        return
    with _HOLD_LOCK:  # threadpoolctl's limit is process-wide: one holder at a time
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            _HELD += 1
            try:
                yield
            finally:
                _HELD -= 1
