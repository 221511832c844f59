"""Slow points on a kink of a piecewise activation (relu at u = 0).

At a state where some unit's u = W h + c sits within ``KINK_TOL`` of a kink
of f (refrnn.analysis.dynamics.KINKS), f'(u) of that unit has two one-sided
values, and which one a computed point gets is round-off (|u| of 1e-15 or
1e-7 on either side). Such a point is "on a kink"; this module gives

    kink_units(dyn, h, tol)          -> (units (K,), left slopes (K,), right slopes (K,))
    side_slopes(dyn, h, tol)         -> list of (N,) f'(u) vectors, one per side
    smallest_gradient(dyn, h, tol)   -> max |grad q| at h, least over the kink's slopes
    stability_class(n_unstable)      -> "stable", "unstable" or "mixed"

``side_slopes``: every combination of one-sided slopes for K <= MAX_ENUM kink
units (2^K sides), else the two where all of them take their left or all
their right slope. A point is stable (unstable) when it is so on every
side, "mixed" otherwise; a smooth point has one side.

``smallest_gradient``: q is not differentiable on a kink, and a minimum
there has no zero gradient; 0 is in its subdifferential instead. With
r = F(h) - h, grad q = alpha (W^T (d * r) - r) for any slopes d of the kink
units between their one-sided values; the least max |grad q| over those d
(least squares in the box, scipy.optimize.lsq_linear) is what the search's
gradient tolerance is held against at a kink.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import lsq_linear

from ..core import activations
from .dynamics import KINKS

KINK_TOL = 1e-5   # |u - kink| below this: the unit is on the kink
MAX_ENUM = 3      # up to this many kink units, every side (2^K) is taken


def kink_units(dyn, h, tol=KINK_TOL):
    """Units of state h (N,) on a kink: (indices (K,), f' left (K,), f' right (K,))."""
    u = dyn.u(h)
    idx, left, right = [], [], []
    for where, sl, sr in KINKS[dyn.activation]:
        on = np.flatnonzero(np.abs(u - where) < tol)
        idx.append(on)
        left.append(np.full(on.size, sl))
        right.append(np.full(on.size, sr))
    if not idx:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return np.concatenate(idx), np.concatenate(left), np.concatenate(right)


def side_slopes(dyn, h, tol=KINK_TOL, max_enum=MAX_ENUM) -> list:
    """f'(u) (N,) on each side of the kinks at h: one vector for a smooth point."""
    d = dyn.slopes(h)
    units, left, right = kink_units(dyn, h, tol)
    if units.size == 0:
        return [d]
    if units.size <= max_enum:
        choices = itertools.product((0, 1), repeat=units.size)
    else:
        choices = [(0,) * units.size, (1,) * units.size]
    sides = []
    for pick in choices:
        s = d.copy()
        s[units] = np.where(np.asarray(pick, dtype=bool), right, left)
        sides.append(s)
    return sides


def smallest_gradient(dyn, h, tol=KINK_TOL) -> float:
    """max |grad q(h)|, the least over the slopes of h's kink units between
    their one-sided values (the plain max |grad q| at a smooth point)."""
    h = np.asarray(h, dtype=np.float64)
    u = dyn.u(h)
    a = dyn.alpha
    r = a * (activations.apply(dyn.activation, np, u) - h)
    d = activations.derivative(dyn.activation, np, u).astype(np.float64)
    g = a * (dyn.WT @ (d * r) - r)
    units, left, right = kink_units(dyn, h, tol)
    if units.size == 0:
        return float(np.max(np.abs(g)))
    # g(z) = g + A z, z = d_K - d(K) in [lo, hi]: column k of A is alpha r_k W[k, :]^T
    A = a * (dyn.W[units].toarray().T * r[units])
    lo = np.minimum(left, right) - d[units]
    hi = np.maximum(left, right) - d[units]
    if units.size == 1:
        aa = float(A[:, 0] @ A[:, 0])
        z = np.clip(-(A[:, 0] @ g) / aa, lo, hi) if aa > 0 else np.zeros(1)
    else:
        z = lsq_linear(A, -g, bounds=(lo, hi + 1e-300)).x
    return float(np.max(np.abs(g + A @ z)))


def stability_class(n_unstable) -> str:
    """"stable" (no |lambda| > 1 on any side), "unstable" (some on every side)
    or "mixed", from the unstable counts (S,) of a point's sides."""
    n = np.asarray(n_unstable)
    if np.all(n == 0):
        return "stable"
    return "unstable" if np.all(n > 0) else "mixed"


def polish(dyn, h, tol=KINK_TOL):
    """The minimum of q within the relu activity pattern of h (N,), on h's
    kinks, solved exactly; None for another f, or when it is not in that pattern.

    Within one activity pattern of relu (each unit's u > 0 or < 0 kept),
    f(u) = d * u with d = 1 (active) or 0, so r(h) = F(h) - h = A h + b with
    A = alpha (diag(d) W - I), b = alpha d * c: q is quadratic there. A unit
    k on its kink (|u_k| < tol) stays on it: f(u_k) = 0 and the linear
    constraint W[k] h = -c_k. This solves that (equality-constrained) least
    squares for the step delta nearest h (minimum norm: on a line of minima,
    the point of the line nearest h) and returns h + delta when every other
    unit keeps its side (else the quadratic does not hold there: None).
    L-BFGS stalls beside a minimum on a kink (q has no gradient there) and
    creeps along a slow manifold; this ends both.
    """
    if dyn.activation != "relu":
        return None
    h = np.asarray(h, dtype=np.float64)
    u = dyn.u(h)
    units = kink_units(dyn, h, tol)[0]
    a = dyn.alpha
    d = (u > 0).astype(np.float64)
    d[units] = 0.0
    Wd = dyn.W.toarray()
    A = a * (d[:, None] * Wd - np.eye(dyn.n))
    r0 = A @ h + a * d * dyn.c                    # r at h with the kink units at f = 0
    d0, Z = np.zeros(dyn.n), None
    if units.size:
        WK = Wd[units]                            # (K, N): W_K delta = -u_K
        d0 = np.linalg.lstsq(WK, -u[units], rcond=None)[0]
        _, s, Vt = np.linalg.svd(WK)
        Z = Vt[int(np.sum(s > s.max() * 1e-12)):].T   # null space of W_K
    if Z is None:
        step = _solve(A, -r0)
    else:
        step = d0 + Z @ np.linalg.lstsq(A @ Z, -(r0 + A @ d0), rcond=None)[0]
    h_new = h + step
    u_new = dyn.u(h_new)
    others = np.ones(dyn.n, dtype=bool)
    others[units] = False
    if np.any(np.sign(u_new[others]) != np.sign(u[others])) or \
            (units.size and np.max(np.abs(u_new[units])) >= tol):
        return None
    return h_new


def _solve(A, b):
    """x with A x = b: LU (np.linalg.solve), or least squares of least norm
    where A is singular (a line of minima) or the LU's residual is not small."""
    try:
        x = np.linalg.solve(A, b)
        if np.all(np.isfinite(x)) and \
                np.linalg.norm(A @ x - b) <= 1e-10 * max(np.linalg.norm(b), 1e-300):
            return x
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(A, b, rcond=None)[0]
