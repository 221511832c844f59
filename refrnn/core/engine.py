"""The one forward loop and the one backward loop over time (docs/bptt.md).

Every backend runs these lines; what differs between backends is the set of
primitives ``prims`` (refrnn.backends.backend) and the recurrent operator ``W`` it
built for the mask (Wx: out = W_rec x; WTx: out = W_rec^T x; add_WTx:
out += W_rec^T x; sampled: the W_rec gradient at the mask).

Layout: K = T * B, column t*B + b. X (K, n_in); U (N, K) the pre-activations
u_t; H (N, (T+1)*B) the states, columns [0, B) holding h_{-1} = h0, so
H[:, B:] are h_0 .. h_{T-1} and H[:, :K] are the states before each step.
Each step reads and writes its (N, B) column slices of U, H and G in place
(views, no copies); only W_rec's product writes a contiguous (N, B) buffer.
U and H are the model's record arrays, reused across updates.

Threads: ``prims.parts(fn, n, work, blas)`` runs fn(r0, r1) over ranges
covering [0, n) (the CPU's workers; one call on the plain set); ``blas``
says the parts call BLAS on large operands (the all-time products, a dense
W_rec's product: ``W.dense``). The all-time products split the neurons; the
loops over time split the trials, which never meet, so the workers need no
barrier per step (their split is decided on one step's work: each part
runs all T steps).
"""
from __future__ import annotations

import math

from . import activations


def used_columns(xp, X):
    """Indices of the columns of X (K, n_in) that are not all zero, or None if all are.

    Unused one-hot task units are zero columns: they add nothing to u_t and
    get a zero W_in gradient, so the products skip them.
    """
    used = xp.flatnonzero(X.any(axis=0))
    return None if used.size == X.shape[1] else used


def forward(model, X, T: int, B: int, noise):
    """u_t, h_t and y_t for all steps.

    Args:
        model: the RNN (config, params, backend, recurrent operator W).
        X: (K, n_in) inputs x_t, row t*B + b.
        noise: the draws xi (N, K), an object with add(U, scale, b, r0, r1)
            (refrnn.backends.plain.ArrayNoise, refrnn.backends.fast_cpu.SeededNoise).
    Returns:
        Y (K, n_out), U (N, K), H (N, (T+1)*B), x_cols (used input columns or None),
        Xs (K, len(x_cols)): those columns of X (X itself when all are used),
        w_rec (nnz,): a copy of the recurrent weights this pass used.
    """
    cfg, P, xp, prims, W = model.config, model.params, model.xp, model.backend.prims, model.W
    N, K, a, act = cfg.hidden, T * B, cfg.alpha, cfg.activation
    c = math.sqrt(2.0 / a) * cfg.sigma_rec
    x_cols = used_columns(xp, X)
    W_in = P["W_in"] if x_cols is None else P["W_in"][:, x_cols]
    Xs = X if x_cols is None else xp.take(X, x_cols, axis=1)  # kept for backward
    U, H = model.record_arrays(K, B)             # (N, K), (N, K + B), reused
    Y = xp.empty((K + B, cfg.n_out), dtype=model.dtype)  # row k + B holds y for column k
    with prims.compute():
        def drive(r0, r1):  # all steps at once: U = W_in x_t
            xp.matmul(W_in[r0:r1], Xs.T, out=U[r0:r1])

        def drive_noise(r0, r1):  # U += b + c xi_t
            noise.add(U, c, P["b"], r0, r1)

        prims.parts(drive, N, N * K * Xs.shape[1])
        prims.parts(drive_noise, N, N * K * 8, blas=False)
        H[:, :B] = P["h0"][:, None] if "h0" in P else 0
        w_rec = xp.array(P["w_rec"])             # the weights this pass uses, kept
        W.load(w_rec)

        def steps(b0, b1):  # the loop over time for trials b0:b1
            u = prims.step_buffer(H[:, b0:b1])   # W_rec h_{t-1}, a contiguous (N, b1 - b0) buffer
            for t in range(T):
                s, n = slice(t * B + b0, t * B + b1), slice((t + 1) * B + b0, (t + 1) * B + b1)
                W.Wx(H[:, s], u)                 # W_rec h_{t-1}; H[:, s] is a view
                u_t = U[:, s]
                u_t += u                         # u_t = W_in x_t + b + c xi_t + W_rec h_{t-1}
                if a == 1.0:
                    activations.apply(act, xp, u_t, out=H[:, n])  # h_t = f(u_t)
                else:
                    activations.apply(act, xp, u_t, out=u)  # h_t = h_{t-1} + alpha (f(u_t) - h_{t-1})
                    u -= H[:, s]
                    u *= a
                    xp.add(H[:, s], u, out=H[:, n])

        prims.parts(steps, B, B * (model.mask.nnz + 4 * N), blas=W.dense)  # one step's work

        def readout(k0, k1):  # y_t = W_out h_t + b_out, all steps at once
            xp.matmul(H[:, k0:k1].T, P["W_out"].T, out=Y[k0:k1])
            Y[k0:k1] += P["b_out"]

        prims.parts(readout, K + B, N * K * cfg.n_out)
    return Y[B:], U, H, x_cols, Xs, w_rec


def backward(model, record, dY) -> dict:
    """Gradients of L for every parameter, given dY = dL/dy (K, n_out).

    Args:
        model: the RNN that made ``record`` (a refrnn.core.model.ForwardRecord).
        dY: (K, n_out), row t*B + b.
    Returns:
        dict with the keys of model.params: W_in (N, n_in), b (N,), w_rec
        (nnz,) at the pattern only, W_out (n_out, N), b_out (n_out,), h0 (N,)
        when trained.
    """
    cfg, P, xp, prims, W = model.config, model.params, model.xp, model.backend.prims, model.W
    T, B, N, n_out = record.T, record.B, cfg.hidden, cfg.n_out
    K = T * B
    H, U = record.h, record.u
    Hp = H[:, :K]                                # h_{t-1} for every column
    g = {"W_out": xp.empty((n_out, N), dtype=model.dtype)}
    dYpad = xp.zeros((K + B, n_out), dtype=model.dtype)  # B zero rows against h_{-1}
    dYpad[B:] = dY
    G = model.workspace("G", (N, K))
    W.load(record.w_rec)                          # the forward's weights, even if params moved
    with prims.compute():
        def readout(r0, r1):  # dW_out = sum dy_t h_t^T; G_t = W_out^T dy_t
            xp.matmul(dYpad.T, H[r0:r1].T, out=g["W_out"][:, r0:r1])
            xp.matmul(P["W_out"][:, r0:r1].T, dY.T, out=G[r0:r1])

        prims.parts(readout, N, 2 * N * K * n_out)
        g["b_out"] = dY.sum(axis=0)
        dU, dh = _through_time(model, U, G, T, B)    # G now holds du_t; dh = dL/dh_{-1}
        cols, Xs = record.x_cols, record.x_used
        g["W_in"] = xp.zeros_like(P["W_in"])
        g["b"] = xp.empty(N, dtype=model.dtype)

        def inputs(r0, r1):  # dW_in = sum du_t x_t^T; db = sum du_t
            gw = xp.matmul(dU[r0:r1], Xs)
            if cols is None:
                g["W_in"][r0:r1] = gw
            else:
                g["W_in"][r0:r1, cols] = gw
            dU[r0:r1].sum(axis=1, out=g["b"][r0:r1])

        prims.parts(inputs, N, N * K * (Xs.shape[1] + 1))
        g["w_rec"] = W.sampled(dU, Hp)           # dw_rec[p] = sum du_t[i] h_{t-1}[j]
    if "h0" in P:
        g["h0"] = dh.sum(axis=1)                 # h_{-1} = h0 for every trial
    return {k: g[k] for k in P}


def _through_time(model, U, G, T: int, B: int):
    """The loop over time, backwards. G (N, K) holds G_t = W_out^T dy_t on entry
    and du_t = dL/du_t on exit. Returns (G, dL/dh_{-1} (N, B))."""
    xp, W, a, act = model.xp, model.W, model.config.alpha, model.config.activation
    prims = model.backend.prims
    dh_start = xp.empty((G.shape[0], B), dtype=G.dtype)

    def steps(b0, b1):  # the loop over time, backwards, for trials b0:b1
        last = (T - 1) * B
        dh = prims.step_buffer(G[:, last + b0:last + b1])  # dh_{T-1} = G_{T-1}: no step T
        d = xp.empty_like(dh)
        for t in range(T - 1, -1, -1):
            s = slice(t * B + b0, t * B + b1)
            du = G[:, s]                        # G_t is used up: du_t takes its place
            activations.derivative(act, xp, U[:, s], out=d)
            xp.multiply(dh, d, out=du)          # du_t = dh_t * f'(u_t)
            if a != 1.0:
                du *= a                         #        * alpha
                dh *= 1.0 - a                   # dh_{t-1} = (1 - alpha) dh_t
                if t > 0:
                    dh += G[:, s.start - B:s.stop - B]  # + G_{t-1} (alpha < 1)
                W.add_WTx(du, dh)               #            + W_rec^T du_t
                continue
            W.WTx(du, dh)                       # alpha = 1: dh_{t-1} = W_rec^T du_t
            if t > 0:
                dh += G[:, s.start - B:s.stop - B]  # + G_{t-1} (none at t = 0)
        dh_start[:, b0:b1] = dh

    prims.parts(steps, B, B * (model.mask.nnz + 4 * G.shape[0]), blas=W.dense)  # one step's work
    return G, dh_start
