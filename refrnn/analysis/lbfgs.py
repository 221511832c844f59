"""Many independent L-BFGS minimisations side by side (one per column).

    minimize_columns(fg, X0, max_iter, gtol, xtol, memory) -> Minimized

``fg(X, cols)`` returns (f (M',), G (N, M')) for the columns ``cols`` of the
batch (X holds those M' columns; cols None: all M); each column is its own
problem (the fixed-point search of refrnn.analysis: q of every start). Per
column: the L-BFGS direction by the two-loop recursion (Nocedal & Wright
2006, algorithm 7.4) with the initial scaling s^T y / y^T y, and a
backtracking line search on the Armijo condition
f(x + t d) <= f(x) + 1e-4 t g^T d (t = 1, 1/2, 1/4, ...).

A column stops, with its reason in ``status``:

    CONVERGED  max |g| < gtol and the last step max |x_k - x_k-1| < xtol
    STALLED    no step along the direction decreases f (round-off, or a kink)
    CAPPED     ``max_iter`` iterations

Only the columns still running are worked on. Written out here because
SciPy's L-BFGS-B treats the M problems as one of M * N variables, which
costs more per iteration than the hand-written q and its gradient, and lets
one slow start hold the others back.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C_ARMIJO = 1e-4
MAX_HALVINGS = 40
CONVERGED, STALLED, CAPPED = 0, 1, 2


@dataclass
class Minimized:
    """End of M minimisations: X (N, M) end points, f (M,), G (N, M) their
    gradients, step (M,) max |x_k - x_k-1| of each column's last accepted
    step (0 before any), iterations (M,), status (M,) CONVERGED/STALLED/CAPPED."""

    X: np.ndarray
    f: np.ndarray
    G: np.ndarray
    step: np.ndarray
    iterations: np.ndarray
    status: np.ndarray


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


def minimize_columns(fg, X0, max_iter=500, gtol=1e-9, xtol=1e-8, memory=10) -> Minimized:
    """Minimise each column of X0 (N, M) independently (see the module docstring)."""
    X = np.array(X0, dtype=np.float64)
    M = X.shape[1]
    f, G = fg(X, None)
    step = np.zeros(M)
    iters = np.zeros(M, dtype=np.int64)
    status = np.full(M, CAPPED, dtype=np.int64)
    status[np.max(np.abs(G), axis=0) < gtol] = CONVERGED
    run = np.flatnonzero(status == CAPPED)       # the columns still running
    hist = []  # (S, Y, rho) of the running columns; rho = 0 where a pair was skipped
    for it in range(int(max_iter)):
        if run.size == 0:
            break
        Xr, fr, Gr = X[:, run], f[run], G[:, run]
        D = _direction(Gr, hist)
        slope = np.sum(D * Gr, axis=0)
        bad = slope >= 0                      # not a descent direction: steepest descent
        D[:, bad] = -Gr[:, bad]
        slope[bad] = -np.sum(Gr[:, bad] ** 2, axis=0)
        t = np.ones(run.size)
        if not hist:                          # first step: at most unit length
            t = np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(Gr, axis=0), 1e-300))
        Xn, fn, Gn = Xr.copy(), fr.copy(), Gr.copy()
        pend = np.arange(run.size)
        for _ in range(MAX_HALVINGS):
            if pend.size == 0:
                break
            Xt = Xr[:, pend] + t[pend] * D[:, pend]
            ft, Gt = fg(Xt, run[pend])
            ok = ft <= fr[pend] + C_ARMIJO * t[pend] * slope[pend]
            acc = pend[ok]
            Xn[:, acc], fn[acc], Gn[:, acc] = Xt[:, ok], ft[ok], Gt[:, ok]
            pend = pend[~ok]
            t[pend] *= 0.5
        S, Y = Xn - Xr, Gn - Gr
        moved = np.ones(run.size, dtype=bool)
        moved[pend] = False
        X[:, run], f[run], G[:, run] = Xn, fn, Gn
        iters[run] = it + 1
        step[run[moved]] = np.max(np.abs(S[:, moved]), axis=0)
        status[run[pend]] = STALLED           # no decrease found
        small = moved & (np.max(np.abs(Gn), axis=0) < gtol) & (step[run] < xtol)
        status[run[small]] = CONVERGED
        sy = np.sum(S * Y, axis=0)
        rho = np.where(sy > 1e-300, 1.0 / np.where(sy > 1e-300, sy, 1.0), 0.0)
        hist.append((S, Y, rho))
        if len(hist) > memory:
            hist.pop(0)
        keep = status[run] == CAPPED
        if not keep.all():
            run = run[keep]
            hist = [(S[:, keep], Y[:, keep], rho[keep]) for S, Y, rho in hist]
    return Minimized(X, f, G, step, iters, status)
