"""How the CPU primitives use the cores: a pool of workers, BLAS held at one thread.

A pass is cut into a few phases (the all-time products, the loop over time,
the sampled gradient); each phase splits its work once into contiguous
ranges, one per worker, and waits for them all: one barrier per phase, none
per time step (the loop over time is split by trials, which never meet).
NumPy's GEMM, ufuncs and takes and SciPy's csr_matvecs release the GIL, so
the workers run at once.

BLAS is held at one thread during a pass (threadpoolctl, when installed):
OpenBLAS's own threads synchronise many times inside one long GEMM, and on a
loaded machine each wait can cost a scheduler time slice; and a worker's
GEMM on several BLAS threads would oversubscribe the cores.

Without threadpoolctl, BLAS keeps the thread count it read from the
environment when NumPy loaded it (OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,
OMP_NUM_THREADS, ...; unset: the cores). Where that is one thread, BLAS
counts as held. Otherwise the phases whose parts call BLAS on large
operands (``blas=True``: the all-time products, a dense W_rec's product)
run in one call, on BLAS's own threads, and only the others are split: the
loops over time of a sparse W_rec (sheet blocks: GEMMs below BLAS's own
threading threshold; CSR: no BLAS) and the noise. A worker count below
BLAS's is then not kept by BLAS: that is said once (a RuntimeWarning).

The worker count: ``set_threads(n)`` (the ``threads`` setting, ``--threads``),
else REFRNN_THREADS, else the cores this process may run on.
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

PARALLEL_MIN = 1 << 16  # multiply-adds a part must have, at least (0: no floor)

_SETTING = None  # set_threads(n); None = REFRNN_THREADS or the cores
_POOL = None  # (pid, executor, workers): a forked child makes its own
_CONTROLLER = None
_HELD = 0  # > 0 inside single_threaded_blas while BLAS is held
_HOLD_LOCK = threading.RLock()
_NAME = "refrnn-worker"
# the variables each BLAS reads for its thread count, first found wins (as NumPy's BLAS
# reads them when it loads); a BLAS not named here: the largest of all of them
BLAS_ENV = {"openblas": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
            "mkl": ("MKL_NUM_THREADS", "OMP_NUM_THREADS"),
            "blis": ("BLIS_NUM_THREADS", "OMP_NUM_THREADS")}


def numpy_blas() -> str:
    """"openblas", "mkl", "blis" or "" (unknown): the BLAS NumPy was built with."""
    try:
        name = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"].lower()
    except Exception:  # an older NumPy without CONFIG, or a changed layout
        return ""
    return next((kind for kind in BLAS_ENV if kind in name), "")


def env_blas_threads(environ=None, blas=None):
    """BLAS's thread count as the environment sets it, or None where it sets none.

    ``blas`` ("openblas", "mkl", "blis"; default: NumPy's) reads its own
    variables in order and takes the first set to a positive integer; for an
    unknown BLAS the largest of all of them counts (the cautious answer)."""
    environ = os.environ if environ is None else environ
    blas = numpy_blas() if blas is None else blas

    def value(var):
        v = environ.get(var, "").strip()
        return int(v) if v.isdigit() and int(v) > 0 else None

    if blas in BLAS_ENV:
        return next((n for n in map(value, BLAS_ENV[blas]) if n is not None), None)
    got = [n for var in dict.fromkeys(sum(BLAS_ENV.values(), ())) if (n := value(var))]
    return max(got) if got else None


_ENV_BLAS = env_blas_threads()
_WARNED = False


def set_threads(n) -> None:
    """Use n workers from now on (None: back to REFRNN_THREADS or the cores)."""
    global _SETTING
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    _SETTING = n


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def threads() -> int:
    """Workers for the split work: set_threads(n), else REFRNN_THREADS, else cores()."""
    if _SETTING is not None:
        return _SETTING
    env = os.environ.get("REFRNN_THREADS", "").strip()
    if not env:
        return cores()
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"REFRNN_THREADS must be a positive integer, got {env!r}")
    return int(env)


def pool(workers: int):
    """An executor with at least ``workers`` threads (made again after a fork)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[2] < workers:
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_NAME),
                 workers)
    return _POOL[1]


def split(n: int, parts: int):
    """``parts`` contiguous ranges (r0, r1) covering [0, n), sizes differing by
    at most one; fewer when n < parts (no empty range)."""
    parts = max(1, min(parts, n))
    q, r = divmod(n, parts)
    edges = [i * q + min(i, r) for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def blas_held() -> bool:
    """True while BLAS runs on one thread: held by single_threaded_blas, or
    set to one thread by the environment."""
    return _HELD > 0 or _ENV_BLAS == 1


def workers_for(work: float, blas: bool = True) -> int:
    """How many workers ``work`` multiply-adds get: threads(), but no more
    than leave each PARALLEL_MIN of them, and 1 on a worker or (for parts
    that call BLAS on large operands, ``blas``) where BLAS is not held at
    one thread.

    A part's work must outweigh what it costs: a hand-off per phase, and in
    the loops over time (whose ``work`` is one step's) about ten NumPy calls
    per step, each holding the GIL for a microsecond or two."""
    n = threads()
    if n == 1 or (blas and not blas_held()):
        return 1
    if threading.current_thread().name.startswith(_NAME):
        return 1
    return n if PARALLEL_MIN <= 0 else max(1, min(n, int(work // PARALLEL_MIN)))


def one_part(fn, n: int, work: float, blas: bool = True) -> None:
    """The plain split: fn(0, n), the whole range in one call."""
    fn(0, n)


def run_parts(fn, n: int, work: float, blas: bool = True) -> None:
    """Run fn(r0, r1) over split(n, workers_for(work, blas)): the first range
    on this thread, the others on the pool. Returns when all are done; if
    any raised, waits for all of them, then raises the first error (in range
    order). ``blas``: the parts call BLAS on large operands (see workers_for)."""
    ranges = split(n, workers_for(work, blas))
    if n <= 0:
        return
    if len(ranges) == 1:
        fn(*ranges[0])
        return
    jobs = [pool(len(ranges) - 1).submit(fn, r0, r1) for r0, r1 in ranges[1:]]
    first = None
    try:
        fn(*ranges[0])
    except BaseException as e:  # the others still run on our arrays: wait for them
        first = e
    wait(jobs)
    if first is None:
        first = next((job.exception() for job in jobs if job.exception() is not None), None)
    if first is not None:
        raise first


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
        _say_blas_is_free()
        yield
        return
    with _HOLD_LOCK:  # threadpoolctl's limit is process-wide: one holder at a time
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            _HELD += 1
            try:
                yield
            finally:
                _HELD -= 1


def _say_blas_is_free() -> None:
    """Warn once when BLAS cannot be held and runs more threads than asked for."""
    global _WARNED
    blas = _ENV_BLAS or cores()
    if _WARNED or blas <= threads():
        return
    _WARNED = True
    warnings.warn(
        f"refrnn was asked for {threads()} thread(s), but NumPy's BLAS runs on {blas} and "
        f"cannot be limited without threadpoolctl (pip install threadpoolctl, or "
        f"'refrnn[speed]'); or set OPENBLAS_NUM_THREADS={threads()} (and OMP_NUM_THREADS) "
        f"before starting", RuntimeWarning, stacklevel=6)  # at the caller of model.forward
