"""Many independent L-BFGS minimisations side by side (one per column).

    minimize_columns(fg, X0, max_iter, gtol, memory) -> (X, f, n_iter)

``fg(X, cols)`` returns (f (M',), G (N, M')) for the columns ``cols`` of the
batch (X holds those M' columns; cols None: all M); each column is its own problem (the fixed-point search of refrnn.analysis: q of
every start). Per column: the L-BFGS direction by the two-loop recursion
(Nocedal & Wright 2006, algorithm 7.4) with the initial scaling
s^T y / y^T y, and a backtracking line search on the Armijo condition
f(x + t d) <= f(x) + 1e-4 t g^T d (t = 1, 1/2, 1/4, ...). A column stops
when max |g| < gtol, when no step decreases f (round-off reached), or after
``max_iter`` iterations. Written out here because SciPy's L-BFGS-B treats
the M problems as one of M * N variables, which costs more per iteration
than the hand-written q and its gradient, and lets one slow start hold the
others back.
"""
from __future__ import annotations

import numpy as np

C_ARMIJO = 1e-4
MAX_HALVINGS = 40


def _direction(G, hist):
    """-H G by the two-loop recursion, per column; hist: list of (S, Y, rho)."""
    Q = G.copy()
    alphas = []
    for S, Y, rho in reversed(hist):
        a = rho * np.sum(S * Q, axis=0)
        Q -= a * Y
        alphas.append(a)
    if hist:
        S, Y, _ = hist[-1]
        yy = np.sum(Y * Y, axis=0)
        gamma = np.where(yy > 0, np.sum(S * Y, axis=0) / np.where(yy > 0, yy, 1.0), 1.0)
        Q *= gamma
    for (S, Y, rho), a in zip(hist, reversed(alphas)):
        b = rho * np.sum(Y * Q, axis=0)
        Q += S * (a - b)
    return -Q


def minimize_columns(fg, X0, max_iter=500, gtol=1e-12, memory=10):
    """Minimise each column of X0 (N, M) independently; returns (X, f (M,), iterations)."""
    X = np.array(X0, dtype=np.float64)
    f, G = fg(X, None)
    active = np.max(np.abs(G), axis=0) >= gtol
    hist = []  # (S, Y, rho) over all M columns; rho = 0 where a column skipped a pair
    it = 0
    while it < max_iter and active.any():
        it += 1
        D = _direction(G, hist)
        slope = np.sum(D * G, axis=0)
        bad = slope >= 0                      # not a descent direction: steepest descent
        D[:, bad] = -G[:, bad]
        slope[bad] = -np.sum(G[:, bad] ** 2, axis=0)
        t = np.ones(X.shape[1])
        if not hist:                          # first step: at most unit length
            t = np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(G, axis=0), 1e-300))
        Xn, fn, Gn = X.copy(), f.copy(), G.copy()
        pend = np.flatnonzero(active)
        for _ in range(MAX_HALVINGS):
            if pend.size == 0:
                break
            Xt = X[:, pend] + t[pend] * D[:, pend]
            ft, Gt = fg(Xt, pend)
            ok = ft <= f[pend] + C_ARMIJO * t[pend] * slope[pend]
            acc = pend[ok]
            Xn[:, acc], fn[acc], Gn[:, acc] = Xt[:, ok], ft[ok], Gt[:, ok]
            pend = pend[~ok]
            t[pend] *= 0.5
        active[pend] = False                  # no decrease found: at round-off
        S, Y = Xn - X, Gn - G
        sy = np.sum(S * Y, axis=0)
        rho = np.where(sy > 1e-300, 1.0 / np.where(sy > 1e-300, sy, 1.0), 0.0)
        hist.append((S, Y, rho))
        if len(hist) > memory:
            hist.pop(0)
        X, f, G = Xn, fn, Gn
        active &= np.max(np.abs(G), axis=0) >= gtol
    return X, f, it
