"""The fast CPU primitives (NumPy + SciPy): what ``get_backend("cpu")`` runs.

The same operations as refrnn.backends.plain (the reference), made fast:
- work split over a pool of workers (refrnn.backends.threads): each phase of
  a pass once into contiguous ranges (the loops over time by trials);
- the recurrent product of a pattern that is local on the sheet (locality,
  ring) runs as one batched GEMM on dense blocks, and so does its sampled
  gradient (refrnn.backends.pattern_products); a scattered one (random) with
  SciPy's csr_matvecs; a full one as a GEMM;
- the noise is never kept: it is drawn in cache-sized row chunks from a seed
  and added as it is made, then re-made from the seed when asked for.
tests/test_primitives.py checks each against the reference (float64, 1e-12).
"""
from __future__ import annotations

import threading

import numpy as np
import scipy.sparse

from . import threads
from .noise import draw_noise, new_noise_seed, noise_rows
from .plain import pattern_coordinates, transposed_pattern, uses_dense
from .pattern_products import PatternProduct, SheetBlocks, plan

try:  # private but stable for a decade; the public product is the fallback
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover
    _csr_matvecs = None


class SeededNoise:
    """Recurrent noise xi (N, K) given by a seed (refrnn.backends.noise.noise_rows)."""

    def __init__(self, seed: int, n: int, k: int, dtype):
        self.seed, self.n, self.k, self.dtype = seed, n, k, np.dtype(dtype)

    def add(self, U, scale: float, b, r0: int, r1: int) -> None:
        """U[r0:r1] += b[r0:r1, None] + scale * xi[r0:r1] (rounded as z = scale xi; z += b)."""
        scale = U.dtype.type(scale)
        for c0, c1, z in noise_rows(self.seed, self.n, self.k, self.dtype, r0, r1):
            z *= scale
            z += b[c0:c1, None]
            U[c0:c1] += z

    def array(self) -> np.ndarray:
        """xi (N, K), re-made from the seed."""
        return draw_noise(self.seed, self.n, self.k, self.dtype)


class _Csr:
    """out = A(data) @ x (add: out += it) for a fixed CSR pattern A (n, n);
    x (n, B) rows contiguous, out C-contiguous (n, B)."""

    def __init__(self, indptr, indices, n: int):
        self.n = n
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int32)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        self._local = threading.local()  # each thread its own copy of x

    def _flat(self, x):
        """x itself when C-contiguous, else a copy in this thread's buffer
        (csr_matvecs reads x as one flat run)."""
        if x.flags.c_contiguous:
            return x
        bufs = self._local.__dict__.setdefault("x", {})
        key = (x.shape, x.dtype.str)
        if key not in bufs:
            bufs[key] = np.empty(x.shape, dtype=x.dtype)
        np.copyto(bufs[key], x)
        return bufs[key]

    def product(self, data, x, out, add: bool = False) -> None:
        # csr_matvecs writes through out.reshape(-1): a copy unless out is C-contiguous
        if not out.flags.c_contiguous or out.shape != x.shape or x.shape[0] != self.n:
            raise ValueError(f"out must be C-contiguous of shape ({self.n}, B), as x")
        if not (x.dtype == out.dtype == data.dtype):
            raise ValueError(f"dtypes differ: data {data.dtype}, x {x.dtype}, out {out.dtype}")
        if not add:
            out.fill(0)
        if _csr_matvecs is None:  # pragma: no cover
            out += scipy.sparse.csr_matrix((data, self.indices, self.indptr),
                                           shape=(self.n, self.n)) @ x
            return
        _csr_matvecs(self.n, self.n, x.shape[1], self.indptr, self.indices, data,
                     self._flat(x).reshape(-1), out.reshape(-1))


class CpuRecurrent:
    """W_rec's operator on the CPU (see refrnn.backends.plain.ArrayRecurrent).

    Three layouts, chosen from the pattern: dense above DENSE_DENSITY (full
    masks: one GEMM); dense blocks on the sheet (refrnn.backends.pattern_products)
    when the pattern is local on ``sheet`` and its blocks beat the sparse
    kernel (locality, ring); else CSR with csr_matvecs (random, autapse).
    Several threads may multiply at once (each has its own scratch); the
    engine gives each its own trials.
    """

    def __init__(self, mask, dtype, sheet=None):
        n = mask.shape[0]
        self.n, self.dtype = n, np.dtype(dtype)
        rows, cols = pattern_coordinates(mask)
        self.dense = uses_dense(mask)
        self._local = threading.local()
        self.blocks = self.csr = self.sampler = None
        fwd = bwd = None
        if not self.dense:
            fwd, bwd = plan(rows, cols, n, sheet), plan(cols, rows, n, sheet)
        if fwd is not None and bwd is not None:
            self.blocks = (SheetBlocks(rows, cols, n, sheet, dtype, *fwd[:2]),
                           SheetBlocks(cols, rows, n, sheet, dtype, *bwd[:2]))
        if self.blocks is None or not self.blocks[0].samples_well:
            self.sampler = PatternProduct(rows, cols, n, np, parts=threads.run_parts)
        if self.dense:
            self.flat = rows * n + cols
            self.W = np.zeros((n, n), dtype=dtype)
            return
        if self.blocks is None:
            t_indptr, t_indices, self.perm = transposed_pattern(mask)
            self.csr = (_Csr(mask.indptr, mask.indices, n), _Csr(t_indptr, t_indices, n))

    @property
    def layout(self) -> str:
        """"dense", "blocks" or "csr"."""
        return "dense" if self.dense else ("blocks" if self.blocks is not None else "csr")

    def load(self, w) -> None:
        """Point the operator at the weights w (nnz,) in CSR order."""
        if self.dense:
            self.W.ravel()[self.flat] = w
        elif self.blocks is not None:
            for op in self.blocks:
                op.load(w)
        else:
            w = np.ascontiguousarray(w, dtype=self.dtype)
            self.w = (w, np.take(w, self.perm))

    def _product(self, transpose: bool, x, out, add: bool = False) -> None:
        """out = W_rec x (transpose: W_rec^T x); add: out += it.
        x (N, B) rows contiguous, out C-contiguous (N, B)."""
        if self.csr is not None:  # csr_matvecs accumulates: no scratch
            self.csr[transpose].product(self.w[transpose], x, out, add)
            return
        y = self._scratch(out) if add else out
        if self.dense:
            np.matmul(self.W.T if transpose else self.W, x, out=y)
        else:
            self.blocks[transpose].product(x, y)
        if add:
            out += y

    def _scratch(self, like):
        bufs = self._local.__dict__.setdefault("tmp", {})
        a = bufs.get(like.shape)
        if a is None:
            a = bufs[like.shape] = np.empty(like.shape, dtype=self.dtype)
        return a

    def Wx(self, x, out) -> None:
        """out = W_rec x; x (N, B) with contiguous rows, out C-contiguous (N, B)."""
        self._product(False, x, out)

    def WTx(self, x, out) -> None:
        """out = W_rec^T x; as Wx."""
        self._product(True, x, out)

    def add_WTx(self, x, out) -> None:
        """out += W_rec^T x; as Wx."""
        self._product(True, x, out, add=True)

    def sampled(self, A, Bm):
        """(A Bm^T)[rows, cols] (nnz,) for A, Bm (N, K), blocked and split:
        on W_rec's own sheet blocks where they sample well, else PatternProduct."""
        if self.sampler is None:
            return self.blocks[0].sampled(A, Bm, threads.run_parts)
        return self.sampler(A, Bm)


class CpuPrimitives:
    """The fast CPU set: the worker pool, seeded chunked noise, sheet blocks or csr_matvecs."""

    def parts(self, fn, n: int, work: float, blas: bool = True) -> None:
        threads.run_parts(fn, n, work, blas)

    def compute(self):
        return threads.single_threaded_blas()

    def step_buffer(self, a):
        return np.array(a, order="C")  # csr_matvecs reads and writes C order

    def draw_noise(self, rng, n: int, k: int, dtype) -> SeededNoise:
        return SeededNoise(new_noise_seed(rng), n, k, dtype)

    def recurrent(self, mask, dtype, sheet=None) -> CpuRecurrent:
        return CpuRecurrent(mask, dtype, sheet)
