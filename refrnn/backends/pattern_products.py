"""Products at a fixed sparse pattern, as dense BLAS blocks: W_rec x of a
pattern local on a torus sheet (SheetBlocks), and the sampled product
(A Bm^T)[rows, cols], the W_rec gradient (SheetBlocks.sampled for a sheet
pattern; PatternProduct for any pattern).

Sheet blocks. Neuron i sits at (i // c, i % c) on an r x c sheet with
periodic borders (the locality mask; a ring is a 1 x n sheet). Every entry
of a local pattern joins a receiver to a source at most p_lo rows above,
p_hi below, q_lo columns left and q_hi right of it (offsets on the torus).
Cut the sheet into vertical strips of ``bc`` columns; a block is one sheet
row of one strip: ``bc`` consecutive receivers, whose sources all lie in a
window of P = p_lo + p_hi + 1 rows by Q = bc + q_lo + q_hi columns. Copy
the sources' rows, once per product, into a padded layout ``hp`` (TC
strips, r + P - 1 rows, Q columns) where each strip carries its
neighbours' border columns and the wrapped rows: then every block's window
is one contiguous run of P * Q rows of hp, and a product is ONE batched
GEMM over the blocks, in the sheet's order (nothing outside sees hp).
The blocks hold the weights densely: their density (nnz / (N * P * Q)) is
what the GEMM pays for; ``plan`` picks ``bc`` from it (benchmarks/blocks.py).
"""
from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .threads import one_part

# benchmarks/blocks.py measures both constants; one rule for every CPU, between them:
GEMM_PER_COPY = 50.0   # sgemm flops in the time one float is gathered: ~80 Intel Xeon, 10-24 AMD EPYC
MIN_BLOCK = 8          # receivers per block below which BLAS runs far under its peak
SPARSE_SLOWDOWN = 8.0  # csr_matvecs' rate under sgemm's: 11-19x Intel Xeon, 4.4-11x AMD EPYC
MAX_RUNS = 4  # PatternProduct: a block whose sources form more runs gathers them (a copy) instead
CHUNK_BYTES = 4 << 20  # SheetBlocks.sampled: the padded sources of one chunk of K columns
CHUNK_COLS = (128, 512)  # ... within these many columns
# SheetBlocks.sampled pays up to this window (P * Q sources a block): OpenBLAS's
# (bc x kc) @ (kc x w) ran at 50-80 GFLOP/s up to w ~ 100 and 15-25 beyond
# (AMD EPYC, SkylakeX kernel, one thread): locality 4% up to N ~ 1600
SAMPLED_MAX_WINDOW = 100


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
    """out = W x for W (n, n) on a local pattern, x (n, B) rows contiguous;
    and the sampled product at the pattern (the W_rec gradient).

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
    def samples_well(self) -> bool:
        """True when ``sampled`` beats PatternProduct here: windows of several
        sheet rows (a ring's one row wastes nothing in PatternProduct's
        blocks) and at most SAMPLED_MAX_WINDOW sources."""
        return self.P > 1 and self.w <= SAMPLED_MAX_WINDOW

    @property
    def density(self) -> float:
        """Share of the blocks' entries that are pattern entries."""
        return len(self.flat) / self.blocks.size

    def load(self, w) -> None:
        """Put the weights w (nnz,), in the order of (rows, cols), into the blocks."""
        self.blocks.reshape(-1)[self.flat] = w

    def _windows(self, hp, rows: int):
        """The blocks' windows (rows, TC, P*Q, m) of a padded hp (TC*(rows+P-1)*Q, m)."""
        m, s = hp.shape[1], hp.itemsize
        return as_strided(hp, shape=(rows, self.tc, self.w, m),
                          strides=(self.Q * m * s, (rows + self.P - 1) * self.Q * m * s,
                                   m * s, s), writeable=False)

    def _buffer(self, name, shape, dtype):
        """This thread's scratch array ``name`` of ``shape`` (made once per shape)."""
        bufs = self._local.__dict__.setdefault(name, {})
        key = (shape, np.dtype(dtype).str)
        if key not in bufs:
            bufs[key] = np.empty(shape, dtype=dtype)
        return bufs[key]

    def product(self, x, out) -> None:
        """out = W x: x (n, B) rows contiguous (any row stride), out C-contiguous
        (n, B). Two calls: one gather, one batched GEMM. Threads may call it at once."""
        B = out.shape[1]
        hp = self._buffer("hp", (len(self.gather), B), self.dtype)
        x.take(self.gather, axis=0, out=hp, mode="clip")  # "raise" would buffer
        np.matmul(self.blocks, self._windows(hp, self.r),
                  out=out.reshape(self.r, self.tc, self.bc, B))

    def sampled(self, A, Bm, parts=one_part):
        """(A Bm^T)[rows, cols] (nnz,) for A (n, K) at the receivers, Bm (n, K)
        at the sources (rows contiguous): every block's window of sources
        against its receivers, W's layout, then the pattern's entries.

        K is cut into chunks of about CHUNK_BYTES of padded sources (hp), so
        each chunk's copy is still in cache when its GEMM reads it; the sheet
        rows are split between the workers (``parts``), each with its own hp.
        A block is the same GEMMs whoever runs it: the result does not depend
        on the split."""
        r, tc, bc, P, Q, K = self.r, self.tc, self.bc, self.P, self.Q, A.shape[1]
        out = np.empty((r, tc, bc, self.w), dtype=A.dtype)
        kc = int(np.clip(CHUNK_BYTES // (len(self.gather) * A.itemsize), *CHUNK_COLS))
        gather = self.gather.reshape(tc, r + P - 1, Q)

        def sheet_rows(a0, a1):
            g = gather[:, a0:a1 + P - 1].ravel()
            Av = A[a0 * self.c:a1 * self.c].reshape(a1 - a0, tc, bc, K)
            tmp = self._buffer("tmp", (a1 - a0, tc, bc, self.w), A.dtype)
            for k0 in range(0, K, kc):
                m = min(K, k0 + kc) - k0
                hp = self._buffer("hp", (len(g), m), A.dtype)
                Bm[:, k0:k0 + m].take(g, axis=0, out=hp, mode="clip")
                dst = out[a0:a1] if k0 == 0 else tmp
                np.matmul(Av[..., k0:k0 + m], self._windows(hp, a1 - a0).swapaxes(2, 3),
                          out=dst)
                if k0:
                    out[a0:a1] += tmp

        parts(sheet_rows, r, self.n * self.w * K)
        return out.reshape(-1)[self.flat]


class PatternProduct:
    """out[p] = sum_k A[rows[p], k] * Bm[cols[p], k]: a product sampled at any pattern.

    Rows are cut into blocks of R ~ sqrt(N) consecutive receivers; each block
    needs only the source columns its entries use. For the locality mask those
    are a few neighbouring sheet rows: one contiguous run of sources, or two
    where the torus wraps. Each run is one GEMM on zero-copy row slices,
    A[r0:r1] @ Bm[run].T, then a fixed gather picks the pattern's entries;
    scattered sources are gathered (copied) first. Where the blocks would
    cost more than half of one dense GEMM (random, full masks; a gathered
    float counted as GEMM_PER_COPY flops) one dense GEMM + gather is used.

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
                cost += GEMM_PER_COPY / 2 * len(uniq)
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
