"""The fast CPU primitives (NumPy + SciPy): what ``get_backend("cpu")`` runs.

The same operations as refrnn.backends.plain (the reference), made fast:
- the recurrent product of a pattern that is local on the sheet (locality,
  ring) runs as one batched GEMM on dense blocks (refrnn.backends.sheet_blocks);
  a scattered one (random) with SciPy's csr_matvecs into a preallocated
  contiguous (N, B) buffer, split into two row halves of equal nnz on two
  threads when large enough; a full one as a dense GEMM;
- all-time products split into two row halves (refrnn.backends.threads);
- the noise is never kept: it is drawn in cache-sized row chunks from a seed
  and added as it is made, then re-made from the seed when asked for.
tests/test_primitives.py checks each against the reference (float64, 1e-12).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse

from . import threads
from .noise import draw_noise, new_noise_seed, noise_rows
from .plain import pattern_coordinates, transposed_pattern, uses_dense
from .sampled_product import PatternProduct
from .sheet_blocks import SheetBlocks, plan
from .threads import halves

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
            out += scipy.sparse.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n)) @ x
        elif self.splittable and threads.parallel(self.nnz * x.shape[1], uses_blas=False):
            job = threads.helper().submit(self._rows, 1, data, x, out)
            self._rows(0, data, x, out)
            job.result()
        else:
            _csr_matvecs(self.n, self.n, x.shape[1], self.indptr, self.indices, data,
                         x.reshape(-1), out.reshape(-1))


class CpuRecurrent:
    """W_rec's operator on the CPU (see refrnn.backends.plain.ArrayRecurrent).

    Three layouts, chosen from the pattern: dense above DENSE_DENSITY (full
    masks: one GEMM); dense blocks on the sheet (refrnn.backends.sheet_blocks)
    when the pattern is local on ``sheet`` and its blocks beat the sparse
    kernel (locality, ring); else CSR with csr_matvecs (random, autapse).
    """

    def __init__(self, mask, dtype, sheet=None):
        n = mask.shape[0]
        self.n, self.dtype = n, np.dtype(dtype)
        rows, cols = pattern_coordinates(mask)
        self.dense = uses_dense(mask)
        self.sampler = PatternProduct(rows, cols, n, np, row_parts=threads.row_parts)
        self._tmp, self._x = {}, {}
        self.blocks = None
        if self.dense:
            self.flat = rows * n + cols
            self.W = np.zeros((n, n), dtype=dtype)
            return
        fwd, bwd = plan(rows, cols, n, sheet), plan(cols, rows, n, sheet)
        if fwd is not None and bwd is not None:
            self.blocks = SheetBlocks(rows, cols, n, sheet, dtype, *fwd[:2])
            self.blocks_t = SheetBlocks(cols, rows, n, sheet, dtype, *bwd[:2])
        else:
            t_indptr, t_indices, self.perm = transposed_pattern(mask)
            self.csr, self.csr_t = _Csr(mask.indptr, mask.indices, n), _Csr(t_indptr, t_indices, n)

    @property
    def layout(self) -> str:
        """"dense", "blocks" or "csr"."""
        return "dense" if self.dense else ("blocks" if self.blocks is not None else "csr")

    def load(self, w) -> None:
        """Point the operator at the weights w (nnz,) in CSR order."""
        if self.dense:
            self.W.ravel()[self.flat] = w
        elif self.blocks is not None:
            self.blocks.load(w)
            self.blocks_t.load(w)
        else:
            self.w = np.ascontiguousarray(w, dtype=self.dtype)
            self.wt = np.take(self.w, self.perm)

    def _scratch(self, pool, like):
        a = pool.get(like.shape)
        if a is None:
            a = pool[like.shape] = np.empty(like.shape, dtype=self.dtype)
        return a

    def _flat(self, x):
        """x itself when C-contiguous, else a copy in a kept buffer (csr_matvecs
        reads x as one flat run)."""
        if x.flags.c_contiguous:
            return x
        buf = self._scratch(self._x, x)
        np.copyto(buf, x)
        return buf

    def _dense(self, W, x, out):
        def rows(part, r0, r1):
            np.matmul(W[r0:r1], x, out=out[r0:r1])

        threads.row_parts(rows, self.n, self.n * self.n * x.shape[1],
                          least=threads.STEP_PARALLEL_MIN)

    def _blocked(self, op, x, out):
        work = op.blocks.size * x.shape[1]
        if not threads.parallel(work, least=threads.STEP_PARALLEL_MIN):
            op.product(x, out)  # one gather, one GEMM
            return
        op.fill(x)
        threads.row_parts(lambda part, a0, a1: op.multiply(out, a0, a1), op.r, work,
                          least=threads.STEP_PARALLEL_MIN)

    def _product(self, which, x, out) -> None:
        if self.dense:
            self._dense(self.W if which == 0 else self.W.T, x, out)
        elif self.blocks is not None:
            self._blocked(self.blocks if which == 0 else self.blocks_t, x, out)
        else:
            x = self._flat(x)
            out.fill(0)
            (self.csr, self.csr_t)[which].accumulate((self.w, self.wt)[which], x, out)

    def Wx(self, x, out) -> None:
        """out = W_rec x; x (N, B) with contiguous rows, out C-contiguous (N, B)."""
        if self.blocks is not None:  # the engine's per-step call: the short path
            self._blocked(self.blocks, x, out)
        else:
            self._product(0, x, out)

    def WTx(self, x, out) -> None:
        """out = W_rec^T x; as Wx."""
        if self.blocks is not None:
            self._blocked(self.blocks_t, x, out)
        else:
            self._product(1, x, out)

    def _add(self, which, x, out) -> None:
        if self.dense or self.blocks is not None:
            tmp = self._scratch(self._tmp, out)
            self._product(which, x, tmp)
            out += tmp
            return
        x = self._flat(x)
        (self.csr, self.csr_t)[which].accumulate((self.w, self.wt)[which], x, out)

    def add_Wx(self, x, out) -> None:
        """out += W_rec x; x (N, B) with contiguous rows, out C-contiguous (N, B)."""
        self._add(0, x, out)

    def add_WTx(self, x, out) -> None:
        """out += W_rec^T x; as add_Wx."""
        self._add(1, x, out)

    def sampled(self, A, Bm):
        """(A Bm^T)[rows, cols] (nnz,) for A, Bm (N, K), blocked and split."""
        return self.sampler(A, Bm)


class CpuPrimitives:
    """The fast CPU set: two-way row parts, seeded chunked noise, sheet blocks or csr_matvecs."""

    def row_parts(self, fn, n: int, work: float) -> None:
        threads.row_parts(fn, n, work)

    def compute(self):
        return threads.single_threaded_blas()

    def step_buffer(self, a):
        return np.array(a, order="C")  # csr_matvecs reads and writes C order

    def draw_noise(self, rng, n: int, k: int, dtype) -> SeededNoise:
        return SeededNoise(new_noise_seed(rng), n, k, dtype)

    def recurrent(self, mask, dtype, sheet=None) -> CpuRecurrent:
        return CpuRecurrent(mask, dtype, sheet)
