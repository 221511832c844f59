"""W_rec x for a pattern that is local on a 2-D torus sheet, as small dense GEMMs.

Neuron i sits at (i // c, i % c) on an r x c sheet with periodic borders
(the locality mask; a ring is a 1 x n sheet). Every entry of a local pattern
joins a receiver to a source at most p_lo rows above, p_hi below, q_lo
columns left and q_hi right of it (offsets taken on the torus). Cut the
sheet into vertical strips of ``bc`` columns; a block is one sheet row of
one strip: ``bc`` consecutive receivers. Its sources all lie in a window of
P = p_lo + p_hi + 1 rows by Q = bc + q_lo + q_hi columns. Copy h, once per
product, into a padded layout ``hp`` (TC strips, r + P - 1 rows, Q columns,
B) where each strip carries its neighbours' border columns and the wrapped
rows: then every block's window is one contiguous run of P * Q rows of hp,
and W_rec x is ONE batched GEMM, blocks (r, TC, bc, P*Q) @ windows
(r, TC, P*Q, B), written straight into out (N, B) in the sheet's order.

So a product is two NumPy calls (one gather, one matmul) whatever N is, and
the neuron order stays the sheet's: nothing outside this module sees hp.
The blocks hold the weights densely: their density (nnz / (N * P * Q)) is
what the GEMM pays for; ``plan`` picks ``bc`` from it (benchmarks/blocks.py
measures it).
"""
from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

# benchmarks/blocks.py measures both constants; one rule for every CPU, between them:
GEMM_PER_COPY = 50.0   # sgemm flops in the time one float is gathered: ~80 Intel Xeon, 10-24 AMD EPYC
MIN_BLOCK = 8          # receivers per block below which BLAS runs far under its peak
SPARSE_SLOWDOWN = 8.0  # csr_matvecs' rate under sgemm's: 11-19x Intel Xeon, 4.4-11x AMD EPYC


def torus_offsets(rows, cols, r: int, c: int):
    """(dr, dc) of each entry on the r x c torus, wrapped into [-r//2, r - r//2)."""
    dr = (cols // c - rows // c + r // 2) % r - r // 2
    dc = (cols % c - rows % c + c // 2) % c - c // 2
    return dr, dc


def block_cost(n: int, sheet, ext, bc: int) -> float:
    """Estimated cost of one product per column of x, in GEMM flops: the
    blocks' multiply-adds (2 n P Q) plus GEMM_PER_COPY per gathered float."""
    r, c = sheet
    P, Q = ext[0] + ext[1] + 1, bc + ext[2] + ext[3]
    return 2.0 * n * P * Q + GEMM_PER_COPY * (c // bc) * (r + P - 1) * Q


def plan(rows, cols, n: int, sheet):
    """Choose the strip width for (rows, cols) on ``sheet`` = (r, c), or None.

    Returns (bc, (p_lo, p_hi, q_lo, q_hi), density) for the bc (a divisor of
    c) with the least estimated cost per product (GEMM flops plus gathered
    floats), or None when that cost exceeds the sparse kernel's (scattered
    patterns: random masks) or no sheet is given.
    """
    if sheet is None or len(rows) == 0:
        return None
    r, c = sheet
    if r * c != n:
        raise ValueError(f"sheet {sheet} does not hold {n} neurons")
    dr, dc = torus_offsets(rows, cols, r, c)
    ext = (max(0, -int(dr.min())), max(0, int(dr.max())),
           max(0, -int(dc.min())), max(0, int(dc.max())))
    P = ext[0] + ext[1] + 1
    best = None
    for bc in (d for d in range(1, c + 1) if c % d == 0):
        if bc < min(MIN_BLOCK, c):
            continue
        cost = block_cost(n, sheet, ext, bc)
        if best is None or cost < best[0]:
            best = (cost, bc, bc + ext[2] + ext[3])
    cost, bc, Q = best
    if cost > SPARSE_SLOWDOWN * 2.0 * len(rows):
        return None
    return bc, ext, len(rows) / (n * P * Q)


class SheetBlocks:
    """out = W x for W (n, n) on a local pattern, x (n, B) rows contiguous.

    Args:
        rows, cols: (nnz,) receiver and source of each entry; ``load(w)``
            takes the weights in this order (any order, each pair once).
        n: neurons; sheet: (r, c); dtype: of the weights and operands.
        bc, ext: the strip width and the extents (p_lo, p_hi, q_lo, q_hi)
            from ``plan``.
    """

    def __init__(self, rows, cols, n: int, sheet, dtype, bc: int, ext):
        r, c = sheet
        p_lo, p_hi, q_lo, q_hi = ext
        self.n, self.r, self.c, self.bc, self.dtype = n, r, c, bc, np.dtype(dtype)
        self.tc = c // bc
        self.P, self.Q = p_lo + p_hi + 1, bc + q_lo + q_hi
        self.w = self.P * self.Q
        # hp[J, a, q] = x[((a - p_lo) mod r) * c + (J * bc + q - q_lo) mod c]
        J, a, q = np.meshgrid(np.arange(self.tc), np.arange(r + self.P - 1),
                              np.arange(self.Q), indexing="ij")
        self.gather = (((a - p_lo) % r) * c + (J * bc + q - q_lo) % c).ravel().astype(np.intp)
        dr, dc = torus_offsets(np.asarray(rows), np.asarray(cols), r, c)
        local = np.asarray(rows) % c % bc
        pos = (dr + p_lo) * self.Q + (local + dc + q_lo)
        self.flat = (np.asarray(rows) * self.w + pos).astype(np.intp)
        if len(np.unique(self.flat)) != len(self.flat):
            raise ValueError("two entries of the pattern fall on one block position")
        # block (a, J) holds receivers a*c + J*bc .. + bc: row i of blocks.reshape(n, w)
        self.blocks = np.zeros((r, self.tc, bc, self.w), dtype=self.dtype)
        self._local = threading.local()  # each thread its own padded buffers

    @property
    def density(self) -> float:
        """Share of the blocks' entries that are pattern entries."""
        return len(self.flat) / self.blocks.size

    def load(self, w) -> None:
        """Put the weights w (nnz,), in the order of (rows, cols), into the blocks."""
        self.blocks.reshape(-1)[self.flat] = w

    def _windows(self, B: int):
        """(hp (rows, B), its windows view (r, TC, P*Q, B)): this thread's, made once per B."""
        bufs = self._local.__dict__.setdefault("hp", {})
        got = bufs.get(B)
        if got is None:
            hp = np.empty((len(self.gather), B), dtype=self.dtype)
            s = hp.itemsize
            view = as_strided(hp, shape=(self.r, self.tc, self.w, B),
                              strides=(self.Q * B * s, (self.r + self.P - 1) * self.Q * B * s,
                                       B * s, s), writeable=False)
            got = bufs[B] = (hp, view)
        return got

    def product(self, x, out) -> None:
        """out = W x: x (n, B) rows contiguous (any row stride), out C-contiguous
        (n, B). Two calls: one gather, one batched GEMM. Threads may call it at once."""
        B = out.shape[1]
        hp, view = self._windows(B)
        x.take(self.gather, axis=0, out=hp, mode="clip")  # "raise" would buffer
        np.matmul(self.blocks, view, out=out.reshape(self.r, self.tc, self.bc, B))
