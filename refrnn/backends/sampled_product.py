"""The sampled product dU Hp^T at the mask: the W_rec gradient over all steps.

dL/dw_rec[p] = sum_k dU[rows[p], k] * Hp[cols[p], k] over all K = T*B columns:
only the nnz entries of the (N, N) product at the pattern are wanted.
"""
from __future__ import annotations

import numpy as np

from .threads import one_part

MAX_RUNS = 4  # a block whose sources form more runs gathers them (a copy) instead


class PatternProduct:
    """out[p] = sum_k A[rows[p], k] * Bm[cols[p], k]: a product sampled at a pattern.

    Rows are cut into blocks of R ~ sqrt(N) consecutive receivers; each block
    needs only the source columns its entries use. For the locality mask those
    are a few neighbouring sheet rows: one contiguous run of sources, or two
    where the torus wraps. Each run is one GEMM on zero-copy row slices,
    A[r0:r1] @ Bm[run].T, then a fixed gather picks the pattern's entries.
    When the blocks would cover more than half of N x N (random, full masks)
    one dense GEMM + gather is used.

    Args:
        rows, cols: (nnz,) int arrays in CSR order (rows non-decreasing).
        n: number of neurons; xp: the array module.
        parts: parts(fn, n, work) runs fn(r0, r1) over ranges covering [0, n)
            (the CPU's worker pool); default one call. A block is the same
            GEMM whoever runs it: the result does not depend on the split.
    """

    def __init__(self, rows, cols, n: int, xp, parts=one_part):
        self.xp, self.n, self.parts = xp, n, parts
        R = max(1, int(np.ceil(np.sqrt(n))))
        blocks, cost = [], 0
        starts = np.searchsorted(rows, np.arange(0, n + R, R))
        for r0 in range(0, n, R):
            p0, p1 = starts[r0 // R], starts[min(r0 // R + 1, len(starts) - 1)]
            if p1 == p0:
                continue
            r1 = min(r0 + R, n)
            c, local_r = cols[p0:p1], rows[p0:p1] - r0
            uniq = np.unique(c)
            cost += (r1 - r0) * len(uniq)
            breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
            run_lo = uniq[np.r_[0, breaks]]
            run_hi = uniq[np.r_[breaks - 1, len(uniq) - 1]] + 1
            if len(run_lo) > MAX_RUNS:  # scattered sources: one gathered copy
                local_c = np.searchsorted(uniq, c)
                parts = [(xp.asarray(uniq), None, xp.asarray(local_r * len(uniq) + local_c))]
            else:
                run = np.searchsorted(run_lo, c, side="right") - 1
                parts = []
                for j, (lo, hi) in enumerate(zip(run_lo, run_hi)):
                    sel = np.flatnonzero(run == j)
                    flat = local_r[sel] * (hi - lo) + (c[sel] - lo)
                    where = None if len(run_lo) == 1 else xp.asarray(p0 + sel)
                    parts.append((slice(int(lo), int(hi)), where, xp.asarray(flat)))
            blocks.append((r0, r1, p0, p1, parts))
        self.blocked = cost < 0.5 * n * n
        self.cost = cost if self.blocked else n * n  # multiply-adds per column of K
        self.blocks = blocks
        self.flat = xp.asarray(rows * n + cols)
        self.nnz = len(rows)

    def __call__(self, A, Bm):
        """A (N, K), Bm (N, K) -> (nnz,) sampled products, A's dtype."""
        xp = self.xp
        work = self.cost * A.shape[1]
        if not self.blocked:
            C = xp.empty((self.n, self.n), dtype=A.dtype)

            def rows(r0, r1):
                xp.matmul(A[r0:r1], Bm.T, out=C[r0:r1])

            self.parts(rows, self.n, work)
            return C.ravel()[self.flat]
        out = xp.empty(self.nnz, dtype=A.dtype)

        def blocks(i0, i1):
            for r0, r1, p0, p1, parts in self.blocks[i0:i1]:
                a = A[r0:r1]
                for src, where, flat in parts:
                    vals = xp.matmul(a, Bm[src].T).ravel()[flat]
                    if where is None:
                        out[p0:p1] = vals
                    else:
                        out[where] = vals

        self.parts(blocks, len(self.blocks), work)
        return out
