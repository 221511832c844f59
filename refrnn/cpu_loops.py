"""The forward and backward passes on the CPU, built from refrnn.cpu_kernels.

Same mathematics and layout as the array-module code in refrnn.model and
refrnn.bptt (which CuPy runs); docs/bptt.md derives both. K = T * B, column
t*B + b; U, H and the backward workspace are (N, K)-wide, each step works
on contiguous (N, B) buffers, and the all-time products run as two row
halves (see cpu_kernels.split_rows) with BLAS at one thread.
"""
from __future__ import annotations

import math

import numpy as np

from .cpu_kernels import (DenseKernel, add_bias_and_noise, single_threaded_blas,
                          split_rows)


def recurrent_kernel(model, transposed: bool):
    """(kernel, data): kernel.accumulate(data, x, out) adds W_rec x (or W_rec^T x)."""
    w = np.ascontiguousarray(model.params["w_rec"], dtype=model.dtype)
    if model.dense:
        model._refresh(transposed=False)  # writes w into model._wd
        return DenseKernel(model._wd.T if transposed else model._wd), w
    if transposed:
        return model._kern_t, np.take(w, model._perm)
    return model._kern, w


def used_columns(X):
    """Indices of the columns of X (K, n_in) that are not all zero, or None if all are.

    Unused one-hot task units are zero columns: they add nothing to the
    input drive, and their W_in gradient is zero.
    """
    used = np.flatnonzero(X.any(axis=0))
    return None if used.size == X.shape[1] else used


def forward(model, X, T: int, B: int, xi=None, seed=None):
    """u, h for all steps and y (K, n_out). xi (N, K) given draws, or seed
    for drawn ones (cpu_kernels.noise_rows), or neither (no noise).
    Returns (Y (K, n_out), U (N, K), H (N, (T+1)*B), x_cols)."""
    cfg, P = model.config, model.params
    N, K, dt = cfg.n_hidden, T * B, model.dtype
    x_cols = used_columns(X)
    W_in = P["W_in"] if x_cols is None else P["W_in"][:, x_cols]
    Xs = X if x_cols is None else X[:, x_cols]
    scale = math.sqrt(2.0 / cfg.alpha) * cfg.sigma_rec
    if scale == 0.0:
        xi = seed = None
    U = np.empty((N, K), dtype=dt)
    H = np.empty((N, (T + 1) * B), dtype=dt)
    H[:, :B] = P["h0"][:, None] if "h0" in P else 0
    Y = np.empty((K, cfg.n_out), dtype=dt)
    with single_threaded_blas():
        def drive(part, r0, r1):  # U = W_in x + b + scale * xi, by rows
            np.matmul(W_in[r0:r1], Xs.T, out=U[r0:r1])
            add_bias_and_noise(U, P["b"], scale, part, seed=seed, xi=xi)

        split_rows(drive, N, N * K * (Xs.shape[1] + 8))
        _recur(model, U, H, T, B)

        def readout(part, k0, k1):  # y_t = W_out h_t + b_out, by columns
            np.matmul(H[:, B + k0:B + k1].T, P["W_out"].T, out=Y[k0:k1])
            Y[k0:k1] += P["b_out"]

        split_rows(readout, K, N * K * cfg.n_out)
    return Y, U, H, x_cols


def _recur(model, U, H, T, B):
    """The loop over time: u_t = U[:, t] + W_rec h_{t-1} (written back to U),
    h_t = h_{t-1} + alpha (f(u_t) - h_{t-1}) (written to H)."""
    kern, w = recurrent_kernel(model, transposed=False)
    a, f = model.config.alpha, model._f
    h = np.array(H[:, :B])
    u = np.empty_like(h)
    for t in range(T):
        ut = U[:, t * B:(t + 1) * B]
        np.copyto(u, ut)
        kern.accumulate(w, h, u)     # u_t
        np.copyto(ut, u)
        if a == 1.0:
            f(u, out=h)
        else:                        # h += a * (f(u) - h)
            f(u, out=u)
            u -= h
            u *= a
            h += u
        H[:, (t + 1) * B:(t + 2) * B] = h


def backward(model, cache, dY, pattern_product) -> dict:
    """Gradients for every parameter (see refrnn.bptt.backward), dY (K, n_out)."""
    P, cfg = model.params, model.config
    T, B, N = cache.T, cache.B, cfg.n_hidden
    K, n_out = T * B, cfg.n_out
    Hs, Hp = cache.h[:, B:], cache.h[:, :T * B]
    g = {"W_out": np.empty((n_out, N), dtype=model.dtype), "b_out": dY.sum(axis=0)}
    G = model.workspace("G", (N, K))
    with single_threaded_blas():
        def readout(part, r0, r1):  # dW_out = dY^T h; G = W_out^T dY^T (direct dL/dh)
            g["W_out"][:, r0:r1] = np.matmul(dY.T, Hs[r0:r1].T)
            np.matmul(P["W_out"][:, r0:r1].T, dY.T, out=G[r0:r1])

        split_rows(readout, N, 2 * N * K * n_out)
        dU, carry = _dh_loop(model, cache, G)  # G now holds dU
        cols = cache.x_cols
        Xs = cache.x if cols is None else cache.x[:, cols]
        g["W_in"] = np.zeros_like(P["W_in"])
        g["b"] = np.empty(N, dtype=model.dtype)

        def inputs(part, r0, r1):  # dW_in = dU x (used columns only); db = sum dU
            gw = np.matmul(dU[r0:r1], Xs)
            if cols is None:
                g["W_in"][r0:r1] = gw
            else:
                g["W_in"][r0:r1, cols] = gw
            dU[r0:r1].sum(axis=1, out=g["b"][r0:r1])

        split_rows(inputs, N, N * K * (Xs.shape[1] + 1))
        g["w_rec"] = pattern_product(dU, Hp)
    if "h0" in P:
        g["h0"] = carry.sum(axis=1)  # h_{-1} = h0 for every trial
    return {k: g[k] for k in P}


def _dh_loop(model, cache, G):
    """The loop over time, backwards; dh_t lives in one contiguous (N, B) buffer.

    dh_{t-1} = G_{t-1} + W_rec^T du_t + (1 - alpha) dh_t is built in place
    (the kernel accumulates into it), and du_t = alpha f'(u_t) dh_t
    overwrites G_t. Returns (dU (N, K) = G, dL/dh_{-1} (N, B)).
    """
    T, B, a = cache.T, cache.B, model.config.alpha
    kern, wt = recurrent_kernel(model, transposed=True)
    dh = np.array(G[:, (T - 1) * B:])  # dh_{T-1} = G_{T-1}
    d = np.empty_like(dh)
    du = np.empty_like(dh)
    for t in range(T - 1, -1, -1):
        s = slice(t * B, (t + 1) * B)
        model.f_prime(cache.u[:, s], out=d)
        np.multiply(dh, d, out=du)      # du_t = dh_t * f'(u_t)
        if a != 1.0:
            du *= a                     #        * alpha
            dh *= 1.0 - a               # (1 - alpha) dh_t, carried back
        np.copyto(G[:, s], du)          # G[:, s] now holds du_t
        if t > 0:
            if a != 1.0:
                dh += G[:, s.start - B:s.start]
            else:
                np.copyto(dh, G[:, s.start - B:s.start])
        elif a == 1.0:
            dh.fill(0)
        kern.accumulate(wt, du, dh)     # + W_rec^T du_t
    return G, dh
