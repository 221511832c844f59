"""Hand-written backpropagation through time for refrnn.model.RNN.

docs/bptt.md derives every line below; the variable names match.
Layout: K = T * B, column t*B + b; dY (K, n_out); G, D (N, K).
"""
from __future__ import annotations

import numpy as np

from . import cpu_loops
from .cpu_kernels import split_rows


MAX_RUNS = 4  # a block whose sources form more runs gathers them (a copy) instead


class PatternProduct:
    """out[p] = sum_k A[rows[p], k] * Bm[cols[p], k]: a product sampled at a pattern.

    Rows are cut into blocks of R consecutive receivers; each block needs
    only the source columns its entries use. For the locality mask those are
    a few neighbouring sheet rows: one contiguous run of sources, or two
    where the torus wraps. Each run is one GEMM on zero-copy row slices,
    A[r0:r1] @ Bm[run].T, then a fixed gather picks the pattern's entries.
    When the blocks would cover more than half of N x N (random, full masks)
    a single dense GEMM + gather is used.

    Args:
        rows, cols: (nnz,) int arrays in CSR order (rows non-decreasing).
        n: number of neurons; xp: the array module.
    """

    def __init__(self, rows, cols, n: int, xp):
        self.xp, self.n = xp, n
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
        xp, cpu = self.xp, self.xp is np
        work = self.cost * A.shape[1]
        if not self.blocked:
            C = xp.empty((self.n, self.n), dtype=A.dtype)

            def rows(part, r0, r1):
                xp.matmul(A[r0:r1], Bm.T, out=C[r0:r1])

            if cpu:
                split_rows(rows, self.n, work)
            else:
                rows(0, 0, self.n)
            return C.ravel()[self.flat]
        out = xp.empty(self.nnz, dtype=A.dtype)

        def blocks(part, i0, i1):
            for r0, r1, p0, p1, parts in self.blocks[i0:i1]:
                a = A[r0:r1]
                for src, where, flat in parts:
                    b = Bm[src] if cpu else xp.ascontiguousarray(Bm[src])
                    vals = xp.matmul(a, b.T).ravel()[flat]
                    if where is None:
                        out[p0:p1] = vals
                    else:
                        out[where] = vals

        if cpu:  # two halves of the blocks, one on the helper thread
            split_rows(blocks, len(self.blocks), work)
        else:
            blocks(0, 0, len(self.blocks))
        return out


def _pattern_product(model) -> PatternProduct:
    pp = getattr(model, "_pattern_product", None)
    if pp is None:
        pp = PatternProduct(model.rows, model.cols, model.config.n_hidden, model.xp)
        model._pattern_product = pp
    return pp


def backward(model, cache, dy) -> dict:
    """Gradients of the loss L for every parameter, given dy = dL/dy.

    Args:
        model: the RNN that produced ``cache``.
        cache: its ForwardCache.
        dy: (T, B, n_out) gradient of the loss with respect to the outputs.
    Returns:
        dict with the keys of model.params: W_in (N, n_in), b (N,),
        w_rec (nnz,) at the pattern only, W_out (n_out, N), b_out (n_out,),
        h0 (N,) when trained.
    """
    xp, P, cfg = model.xp, model.params, model.config
    T, B = cache.T, cache.B
    K, N = T * B, cfg.n_hidden
    dy = xp.asarray(dy, dtype=model.dtype)
    if dy.shape != (T, B, cfg.n_out):
        raise ValueError(f"dy must have shape {(T, B, cfg.n_out)}, got {tuple(dy.shape)}")
    dY = dy.reshape(K, cfg.n_out)
    if model.backend.name == "cpu":
        return cpu_loops.backward(model, cache, dY, _pattern_product(model))
    Hp = cache.h[:, :K]    # h_{t-1}, (N, K)
    g = {}
    # Readout: y_t = W_out h_t + b_out, all steps at once. dW_out = dY^T h_t,
    # taken against all of H (contiguous, so CuPy copies nothing for cuBLAS)
    # with B leading zero rows of dY against h_{-1}.
    dYpad = xp.zeros((B + K, cfg.n_out), dtype=model.dtype)
    dYpad[B:] = dY
    g["W_out"] = xp.matmul(dYpad.T, cache.h.T)  # (n_out, N)
    g["b_out"] = dY.sum(axis=0)                 # (n_out,)
    G = model.workspace("G", (N, K))
    xp.matmul(P["W_out"].T, dY.T, out=G)        # direct dL/dh_t, (N, K)
    dU, carry = _dh_loop(model, cache, G)
    g["W_in"] = xp.matmul(dU, cache.x)          # (N, n_in)
    g["b"] = dU.sum(axis=1)                     # (N,)
    g["w_rec"] = _pattern_product(model)(dU, Hp)  # (nnz,)
    if "h0" in P:
        g["h0"] = carry.sum(axis=1)             # h_{-1} = h0 for every trial
    return {k: g[k] for k in P}


def _dh_loop(model, cache, G):
    """The loop over time, backwards: returns dU = dL/du_t (N, K) and
    dL/dh_{-1} (N, B). Array-module version (CuPy); the CPU runs
    refrnn.cpu_loops._dh_loop.
    """
    xp, N, a = model.xp, model.config.n_hidden, model.config.alpha
    T, B = cache.T, cache.B
    # D = alpha * f'(u_t); the loop turns D into dU = dL/du_t in place.
    D = model.f_prime(cache.u, out=model.workspace("D", (N, T * B)))
    if a != 1.0:
        D *= a
    matmul_t = model._refresh(transposed=True)  # v -> W_rec^T v
    carry = None                                # dL/dh_t through step t+1
    du = xp.empty((N, B), dtype=model.dtype, order="F")  # SpMM operand (cupyx: F)
    for t in range(T - 1, -1, -1):
        s = slice(t * B, (t + 1) * B)
        Gt, Dt = G[:, s], D[:, s]
        if carry is not None:
            Gt += carry                         # dh_t = G_t + carry
        xp.multiply(Dt, Gt, out=du)             # du_t = dh_t * alpha f'(u_t)
        Dt[...] = du                            # D[:, s] now holds du_t
        carry = matmul_t(du)                    # W_rec^T du_t
        if a != 1.0:
            carry += (1.0 - a) * Gt             # + (1 - alpha) dh_t
    return D, carry
