"""The fast CPU primitives (NumPy + SciPy): what ``get_backend("cpu")`` runs.

The same operations as refrnn.backends.plain (the reference), made fast:
- the recurrent product accumulates into a preallocated contiguous (N, B)
  buffer with SciPy's csr_matvecs (no temporary, no operator object per step),
  split into two row halves of equal nnz on two threads when large enough;
- all-time products split into two row halves (refrnn.backends.threads);
- the noise is never kept: it is drawn in cache-sized row chunks from a seed
  and added as it is made, then re-made from the seed when asked for.
tests/test_primitives.py checks each against the reference (float64, 1e-12).
"""
from __future__ import annotations

import numpy as np

from . import threads as cpu_threads
from .noise import draw_noise, halves, new_noise_seed, noise_rows
from .sampled_product import PatternProduct
from .plain import pattern_coordinates, transposed_pattern, uses_dense

try:  # private but stable for a decade; the public product is the fallback
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover
    _csr_matvecs = None


class SeededNoise:
    """Recurrent noise xi (N, K) given by a seed (refrnn.backends.noise.noise_rows)."""

    def __init__(self, seed: int, n: int, k: int, dtype):
        self.seed, self.n, self.k, self.dtype = seed, n, k, np.dtype(dtype)

    def add(self, U, scale: float, b, part: int, r0: int, r1: int) -> None:
        """U[r0:r1] += b[r0:r1, None] + scale * xi[r0:r1]; (r0, r1) = halves(N)[part]."""
        if (r0, r1) != halves(self.n)[part]:
            raise ValueError("seeded noise is drawn by halves of the rows")
        scale = U.dtype.type(scale)
        for c0, c1, z in noise_rows(self.seed, self.n, self.k, self.dtype, part):
            z *= scale
            z += b[c0:c1, None]
            U[c0:c1] += z

    def array(self) -> np.ndarray:
        """xi (N, K), re-made from the seed."""
        return draw_noise(self.seed, self.n, self.k, self.dtype)


class _Csr:
    """out += A(data) @ x for a fixed CSR pattern A (n, n); x, out contiguous (n, B).

    Large products run as two row halves of equal nnz, one on the helper thread.
    """

    def __init__(self, indptr, indices, n: int):
        self.n = n
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int32)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        self.nnz = int(self.indptr[-1])
        mid = int(np.searchsorted(self.indptr, self.nnz // 2))
        self.parts = [(r0, r1, int(self.indptr[r0]), int(self.indptr[r1]))
                      for r0, r1 in ((0, mid), (mid, n))]
        self.splittable = 0 < mid < n

    def _check(self, data, x, out):
        # csr_matvecs writes through out.reshape(-1): a copy unless out is C-contiguous
        for name, a in (("x", x), ("out", out)):
            if not a.flags.c_contiguous or a.shape != (self.n, out.shape[1]):
                raise ValueError(f"{name} must be C-contiguous of shape ({self.n}, B)")
        if not (x.dtype == out.dtype == data.dtype):
            raise ValueError(f"dtypes differ: data {data.dtype}, x {x.dtype}, out {out.dtype}")

    def _rows(self, i, data, x, out):
        r0, r1, p0, p1 = self.parts[i]
        _csr_matvecs(r1 - r0, self.n, out.shape[1], self.indptr[r0:r1 + 1] - p0,
                     self.indices[p0:p1], data[p0:p1], x.reshape(-1), out[r0:r1].reshape(-1))

    def accumulate(self, data, x, out) -> None:
        self._check(data, x, out)
        if _csr_matvecs is None:  # pragma: no cover
            import scipy.sparse as sp

            out += sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n)) @ x
        elif self.splittable and cpu_threads.parallel(self.nnz * x.shape[1], uses_blas=False):
            job = cpu_threads.helper().submit(self._rows, 1, data, x, out)
            self._rows(0, data, x, out)
            job.result()
        else:
            _csr_matvecs(self.n, self.n, x.shape[1], self.indptr, self.indices, data,
                         x.reshape(-1), out.reshape(-1))


class CpuRecurrent:
    """W_rec's operator on the CPU (see refrnn.backends.plain.ArrayRecurrent)."""

    def __init__(self, mask, dtype):
        n = mask.shape[0]
        self.n, self.dtype = n, np.dtype(dtype)
        rows, cols = pattern_coordinates(mask)
        self.dense = uses_dense(mask)
        self.sampler = PatternProduct(rows, cols, n, np, split=cpu_threads.split_rows)
        if self.dense:
            self.flat = rows * n + cols
            self.W = np.zeros((n, n), dtype=dtype)
            self._tmp = None
        else:
            t_indptr, t_indices, self.perm = transposed_pattern(mask)
            self.csr, self.csr_t = _Csr(mask.indptr, mask.indices, n), _Csr(t_indptr, t_indices, n)

    def load(self, w) -> None:
        """Point the operator at the weights w (nnz,) in CSR order."""
        if self.dense:
            self.W.ravel()[self.flat] = w
        else:
            self.w = np.ascontiguousarray(w, dtype=self.dtype)
            self.wt = np.take(self.w, self.perm)

    def _dense_add(self, W, x, out):  # the caller's thread only: _tmp is shared
        if self._tmp is None or self._tmp.shape != out.shape:
            self._tmp = np.empty_like(out)
        tmp = self._tmp

        def rows(part, r0, r1):
            np.matmul(W[r0:r1], x, out=tmp[r0:r1])
            out[r0:r1] += tmp[r0:r1]

        cpu_threads.split_rows(rows, self.n, self.n * self.n * x.shape[1])

    def add_Wx(self, x, out) -> None:
        """out += W_rec x; x, out C-contiguous (N, B)."""
        if self.dense:
            self._dense_add(self.W, x, out)
        else:
            self.csr.accumulate(self.w, x, out)

    def add_WTx(self, x, out) -> None:
        """out += W_rec^T x; x, out C-contiguous (N, B)."""
        if self.dense:
            self._dense_add(self.W.T, x, out)
        else:
            self.csr_t.accumulate(self.wt, x, out)

    def sampled(self, A, Bm):
        """(A Bm^T)[rows, cols] (nnz,) for A, Bm (N, K), blocked and split."""
        return self.sampler(A, Bm)


class CpuPrimitives:
    """The fast CPU set: two-way row splits, seeded chunked noise, csr_matvecs."""

    def split(self, fn, n: int, work: float) -> None:
        cpu_threads.split_rows(fn, n, work)

    def compute(self):
        return cpu_threads.single_threaded_blas()

    def step_buffer(self, a):
        return np.array(a, order="C")  # csr_matvecs reads and writes C order

    def draw_noise(self, rng, n: int, k: int, dtype) -> SeededNoise:
        return SeededNoise(new_noise_seed(rng), n, k, dtype)

    def recurrent(self, mask, dtype) -> CpuRecurrent:
        return CpuRecurrent(mask, dtype)
