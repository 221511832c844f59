"""The plain array-module primitives: the reference set, and what CuPy runs.

The engine (refrnn.core.engine) is written once against a handful of primitives;
each backend owns a set. This set is written with nothing but the array
module ``xp`` and its sparse companion, a few lines each, so it is the
reference that tests/test_primitives.py checks every faster set against:

- ``parts(fn, n, work, blas=True)``: run fn(r0, r1) over ranges covering
  [0, n) (a split of ``work`` multiply-adds between threads; ``blas``: the
  parts call BLAS on large operands); here one call, fn(0, n).
- ``compute()``: a context around one forward or backward pass; here nothing.
- ``step_buffer(a)``: a contiguous copy of an (N, B) slice, the loops' per-step
  operand; Fortran-ordered here, because cupyx's csr.dot converts C-ordered
  operands to Fortran order on every call.
- ``draw_noise(rng, n, k, dtype)``: the recurrent noise xi (n, k) of one pass.
- ``recurrent(mask, dtype, sheet)``: W_rec's operator (ArrayRecurrent): load
  the weights, write (Wx, WTx) W_rec x or W_rec^T x into a buffer or
  accumulate W_rec^T x into one (add_WTx, the leaky step's backward), and
  the sampled product at the mask (the W_rec gradient). ``sheet`` = (r, c)
  says the neurons lie on an r x c torus (locality, ring masks; None
  otherwise): the fast CPU set uses it, this set ignores it.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .noise import draw_noise, new_noise_seed
from .pattern_products import PatternProduct
from .threads import one_part

DENSE_DENSITY = 0.1  # above this density W_rec is a dense matrix (GEMM beats SpMM)


def transposed_pattern(mask):
    """(indptr, indices, perm) of W_rec^T's CSR pattern: W_rec^T.data = w_rec[perm]."""
    t = mask.copy()
    t.data = np.arange(mask.nnz, dtype=np.float64)
    t = t.T.tocsr()
    t.sort_indices()
    return t.indptr, t.indices, t.data.astype(np.int64)


def uses_dense(mask) -> bool:
    """True when W_rec is better stored dense (its density is above DENSE_DENSITY)."""
    n = mask.shape[0]
    return mask.nnz > DENSE_DENSITY * n * n


def pattern_coordinates(mask):
    """(rows, cols) of the mask's entries in CSR order, int64 (nnz,) each."""
    rows = np.repeat(np.arange(mask.shape[0]), np.diff(mask.indptr))
    return rows, mask.indices.astype(np.int64)


class ArrayNoise:
    """Recurrent noise held as one array xi (N, K) (any strides), or none."""

    def __init__(self, xi=None):
        self.xi = xi

    def add(self, U, scale: float, b, r0: int, r1: int) -> None:
        """U[r0:r1] += b[r0:r1, None] + scale * xi[r0:r1] (rounded as z = scale xi; z += b)."""
        if self.xi is None or scale == 0.0:
            U[r0:r1] += b[r0:r1, None]
            return
        z = self.xi[r0:r1] * U.dtype.type(scale)
        z += b[r0:r1, None]
        U[r0:r1] += z

    def array(self):
        """xi (N, K), or None."""
        return self.xi


class ArrayRecurrent:
    """W_rec on a fixed pattern, as a CSR matrix (scipy / cupyx) or dense.

    Args:
        xp, sparse: the array module and its sparse module.
        mask: the scipy CSR pattern (N, N), canonical (sorted, unique).
        dtype: the weights' dtype.
        blocked: sample the W_rec gradient block by block (PatternProduct)
            rather than with one dense GEMM + gather (the reference).
    """

    def __init__(self, xp, sparse, mask, dtype, blocked: bool):
        n = mask.shape[0]
        self.xp = xp
        rows, cols = pattern_coordinates(mask)
        self.flat = xp.asarray(rows * n + cols)
        self.dense = uses_dense(mask)
        self.sampler = PatternProduct(rows, cols, n, xp) if blocked else None
        t_indptr, t_indices, perm = transposed_pattern(mask)
        self.perm = xp.asarray(perm)
        if self.dense:
            self.W = xp.zeros((n, n), dtype=dtype)
            return
        # load() swaps .data in place: right only while the pattern is
        # canonical, so that cupyx never re-orders the entries.
        if not mask.has_canonical_format:
            raise ValueError("the mask's CSR pattern must have sorted, unique indices")
        zeros = xp.zeros(mask.nnz, dtype=dtype)
        self.W = sparse.csr_matrix((zeros, xp.asarray(mask.indices, dtype=np.int32),
                                    xp.asarray(mask.indptr, dtype=np.int32)), shape=(n, n))
        self.WT = sparse.csr_matrix((zeros.copy(), xp.asarray(t_indices, dtype=np.int32),
                                     xp.asarray(t_indptr, dtype=np.int32)), shape=(n, n))
        self.W.has_canonical_format = self.WT.has_canonical_format = True

    def load(self, w) -> None:
        """Point the operator at the weights w (nnz,) in CSR order."""
        if self.dense:
            self.W.ravel()[self.flat] = w
            self.WT = self.W.T
            return
        # cuSPARSE reads .data through a raw pointer: it must be contiguous.
        self.W.data = self.xp.ascontiguousarray(w)
        self.WT.data = self.xp.take(w, self.perm)

    def Wx(self, x, out) -> None:
        """out = W_rec x; x, out (N, B)."""
        out[...] = self.W @ x

    def WTx(self, x, out) -> None:
        """out = W_rec^T x; x, out (N, B)."""
        out[...] = self.WT @ x

    def add_WTx(self, x, out) -> None:
        """out += W_rec^T x; x, out (N, B)."""
        out += self.WT @ x

    def sampled(self, A, Bm):
        """(A Bm^T)[rows, cols] (nnz,) for A, Bm (N, K): the W_rec gradient."""
        if self.sampler is not None:
            return self.sampler(A, Bm)
        return self.xp.matmul(A, Bm.T).ravel()[self.flat]


class ArrayPrimitives:
    """The plain primitives on ``xp`` (numpy: the reference; cupy: CUDA).

    Args:
        xp, sparse: the array module and its sparse module.
        blocked: use the blocked sampled product (CUDA) instead of the dense
            reference one.
    """

    def __init__(self, xp, sparse, blocked: bool = False):
        self.xp, self.sparse, self.blocked = xp, sparse, blocked

    def parts(self, fn, n: int, work: float, blas: bool = True) -> None:
        one_part(fn, n, work, blas)

    def compute(self):
        return contextlib.nullcontext()

    def step_buffer(self, a):
        return self.xp.array(a, order="F")

    def draw_noise(self, rng, n: int, k: int, dtype) -> ArrayNoise:
        """xi (n, k) ~ N(0, 1) from ``rng``: a numpy Generator gives the CPU's
        stream (refrnn.backends.noise.draw_noise of a seed it draws), so this set and
        the fast CPU set draw the same numbers; CuPy's generator draws its own.
        """
        if isinstance(rng, np.random.Generator):
            if self.xp is not np:
                raise ValueError("a CUDA pass draws its noise from Backend.rng, "
                                 "not from a numpy Generator")
            return ArrayNoise(draw_noise(new_noise_seed(rng), n, k, dtype))
        return ArrayNoise(rng.standard_normal((n, k), dtype=dtype))

    def recurrent(self, mask, dtype, sheet=None) -> ArrayRecurrent:
        return ArrayRecurrent(self.xp, self.sparse, mask, dtype, self.blocked)
