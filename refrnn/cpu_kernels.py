"""CPU building blocks of the fast forward and backward passes (NumPy + SciPy).

Used by refrnn.cpu_loops only when ``backend.name == "cpu"``; CuPy runs the
plain array-module code of refrnn.model and refrnn.bptt.

- Threads. OpenBLAS's own threads synchronise many times inside one long
  GEMM; on a loaded 2-core machine each wait can cost a scheduler time
  slice (a 4 ms GEMM was seen taking 800 ms). So during a step BLAS is held
  at one thread (through threadpoolctl, when installed) and the work is
  split once per call into two row halves, one run by a helper thread:
  NumPy's GEMM, ufuncs and random fills and SciPy's csr_matvecs all release
  the GIL.
- Noise: Box-Muller from SFC64, drawn and used in cache-sized row chunks;
  the draws depend only on (seed, n, k, dtype), not on the thread count.
- Sparse product: SciPy's csr_matvecs accumulates out += A @ x into a
  preallocated contiguous (N, B) buffer.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .normals import box_muller

try:  # private but stable for a decade; the public product is the fallback
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover
    _csr_matvecs = None

PARALLEL_MIN = 1 << 19  # work items (multiply-adds) below which one thread wins
CHUNK = 1 << 17  # elements per noise chunk: 512 KiB in float32, cache-resident


# ---- threads ----------------------------------------------------------------
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


_POOL = None  # (pid, executor): a forked child makes its own
_CONTROLLER = None
_HELD = 0  # > 0 inside single_threaded_blas while BLAS is held


def _helper():
    """The one helper thread, created on first use (again after a fork)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="refrnn"))
    return _POOL[1]


def halves(n: int):
    """The two row ranges every split uses: (0, n // 2), (n // 2, n)."""
    return ((0, n // 2), (n // 2, n))


def split_rows(fn, n: int, work: float) -> None:
    """Run fn(part, r0, r1) for both halves(n): the second on the helper thread
    when threads() > 1, ``work`` (multiply-adds) is worth the hand-off and
    BLAS is held at one thread (inside single_threaded_blas)."""
    (a0, a1), (b0, b1) = halves(n)
    # Only while BLAS is held at one thread: two GEMMs each on two BLAS
    # threads would oversubscribe the cores.
    if threads() < 2 or work < PARALLEL_MIN or a1 == a0 or not _HELD:
        fn(0, a0, a1)
        fn(1, b0, b1)
        return
    job = _helper().submit(fn, 1, b0, b1)
    fn(0, a0, a1)
    job.result()


@contextlib.contextmanager
def single_threaded_blas():
    """Hold NumPy's BLAS at one thread (no-op without threadpoolctl).

    Also with REFRNN_THREADS=1: one thread then means one thread.
    """
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
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        _HELD += 1
        try:
            yield
        finally:
            _HELD -= 1


# ---- noise --------------------------------------------------------------------
def new_noise_seed(rng) -> int:
    """One 63-bit integer from ``rng``: the seed of one forward pass's noise."""
    return int(rng.integers(0, 2 ** 63 - 1))


def noise_rows(seed: int, n: int, k: int, dtype, part: int):
    """Yield (r0, r1, z): standard normals for the rows r0:r1 of an (n, k)
    array that lie in half ``part`` (0 or 1) of halves(n).

    Box-Muller (refrnn.normals) on uniforms from SFC64(SeedSequence([seed,
    part])); in float32 |z| <= 5.77. z, (r1 - r0, k), is reused: copy to keep.
    """
    dtype = np.dtype(dtype)
    lo, hi = halves(n)[part]
    rows = max(1, min(hi - lo, CHUNK // max(k, 1)))
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, part])))
    m_max = (rows * k + 1) // 2
    u = np.empty(2 * m_max, dtype=dtype)
    z = np.empty(2 * m_max, dtype=dtype)
    for r0 in range(lo, hi, rows):
        r1 = min(hi, r0 + rows)
        m = ((r1 - r0) * k + 1) // 2
        uu, zz = u[:2 * m].reshape(2, m), z[:2 * m].reshape(2, m)
        gen.random(out=uu, dtype=dtype)
        box_muller(uu, zz)
        yield r0, r1, zz.reshape(-1)[:(r1 - r0) * k].reshape(r1 - r0, k)


def draw_noise(seed: int, n: int, k: int, dtype) -> np.ndarray:
    """Every draw of noise_rows(seed, n, k, dtype, part) as one new (n, k) array."""
    out = np.empty((n, k), dtype=dtype)
    for part in (0, 1):
        for r0, r1, z in noise_rows(seed, n, k, dtype, part):
            out[r0:r1] = z
    return out


def _copied_rows(xi, lo, hi):
    """Yield (r0, r1, z): contiguous copies of row chunks of xi[lo:hi]."""
    k = xi.shape[1]
    rows = max(1, min(hi - lo, CHUNK // max(k, 1)))
    buf = np.empty((rows, k), dtype=xi.dtype)
    for r0 in range(lo, hi, rows):
        r1 = min(hi, r0 + rows)
        np.copyto(buf[:r1 - r0], xi[r0:r1])
        yield r0, r1, buf[:r1 - r0]


def add_bias_and_noise(U, b, scale: float, part: int, seed=None, xi=None) -> None:
    """U[rows] += b[rows, None] + scale * xi[rows] for the rows of half ``part``.

    xi is given (N, K) (any strides) or drawn by noise_rows(seed); neither:
    only b is added. Given and drawn xi round alike: z = scale * xi, z += b,
    U += z.
    """
    n, k = U.shape
    lo, hi = halves(n)[part]
    if seed is None and xi is None:
        U[lo:hi] += b[lo:hi, None]
        return
    scale = U.dtype.type(scale)
    chunks = _copied_rows(xi, lo, hi) if xi is not None else noise_rows(seed, n, k, U.dtype, part)
    for r0, r1, z in chunks:
        z *= scale
        z += b[r0:r1, None]
        U[r0:r1] += z


# ---- the recurrent product ------------------------------------------------------
class CsrKernel:
    """out += A @ x for a fixed CSR pattern A (n, n); x, out contiguous (n, B).

    Args:
        indptr, indices: the pattern (kept as int32).
        n: size.
    ``data`` (nnz,) is passed per call. Large products run as two row halves
    of equal nnz, one on the helper thread.
    """

    def __init__(self, indptr, indices, n: int):
        self.n = n
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int32)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        self.nnz = int(self.indptr[-1])
        mid = int(np.searchsorted(self.indptr, self.nnz // 2))
        self.parts = []
        for r0, r1 in ((0, mid), (mid, n)):
            p0, p1 = int(self.indptr[r0]), int(self.indptr[r1])
            self.parts.append((r0, r1, p0, p1, self.indptr[r0:r1 + 1] - p0,
                               self.indices[p0:p1]))
        self.splittable = 0 < mid < n

    def _part(self, i, data, xf, out):
        r0, r1, p0, p1, ip, ix = self.parts[i]
        _csr_matvecs(r1 - r0, self.n, out.shape[1], ip, ix, data[p0:p1], xf,
                     out[r0:r1].reshape(-1))

    def accumulate(self, data, x, out) -> None:
        """out += A(data) @ x; x, out C-contiguous (n, B), data's dtype."""
        if _csr_matvecs is None:  # pragma: no cover
            import scipy.sparse as sp

            out += sp.csr_matrix((data, self.indices, self.indptr),
                                 shape=(self.n, self.n)) @ x
            return
        xf = x.reshape(-1)
        if self.splittable and threads() > 1 and self.nnz * x.shape[1] >= PARALLEL_MIN:
            job = _helper().submit(self._part, 1, data, xf, out)
            self._part(0, data, xf, out)
            job.result()
            return
        _csr_matvecs(self.n, self.n, x.shape[1], self.indptr, self.indices, data, xf,
                     out.reshape(-1))


class DenseKernel:
    """out += W @ x with a dense (n, n) W (any strides), rows split in halves."""

    def __init__(self, W):
        self.W, self.n = W, W.shape[0]
        self._tmp = None

    def accumulate(self, data, x, out) -> None:
        """out += W @ x (``data`` unused: W is refreshed by the caller)."""
        if self._tmp is None or self._tmp.shape != out.shape:
            self._tmp = np.empty_like(out)
        tmp = self._tmp

        def rows(part, r0, r1):
            np.matmul(self.W[r0:r1], x, out=tmp[r0:r1])
            out[r0:r1] += tmp[r0:r1]

        split_rows(rows, self.n, self.n * self.n * x.shape[1])
