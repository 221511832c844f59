"""Fixed and slow points: minimise q(h) from many starts (Sussillo & Barak 2013).

    find_fixed_points(dyn, starts, ...)      -> FixedPoints (unique points, q, stability)
    find_fixed_points_many(dyns, starts, ..) -> one FixedPoints per input, searched at once
    jacobian_eigenvalues(dyn, h, ...)        -> eigenvalues of J(h), dense or by eigs

Converge, then count. Every start is minimised by its own L-BFGS
(refrnn.analysis.lbfgs, all starts of all inputs side by side), with the
hand-written gradient of refrnn.analysis.dynamics; every second start first
takes RELAX steps of F. A start has converged when max |grad q| < G_TOL and
its last step moved no coordinate by X_TOL or more; on a kink of f
(refrnn.analysis.kinks), when the least max |grad q| over the kink's
one-sided slopes is below G_TOL. For relu, q is quadratic on each activity
pattern: the first two rounds of L-BFGS stop at the looser HANDOFF
tolerances and refrnn.analysis.kinks.polish solves the rest exactly; what is
left runs again, up to ROUNDS rounds of ``max_iter`` iterations, the last
to G_TOL and X_TOL. Starts that converge
in none are counted as not converged and never become points. Converged end
states with q < ``q_tol`` are de-duplicated greedily (lowest q first; a
point closer than ``dedup_tol`` to one already kept is dropped: 1% of the
starts' RMS norm).

Eigenvalues of the Jacobian on every side of the point's kinks (one side for
a smooth point): dense ``numpy.linalg.eigvals`` up to ``DENSE_MAX`` units,
above it the ``n_eig`` of largest magnitude from ``scipy.sparse.linalg.eigs``
on a LinearOperator (the sparse W_rec is never made dense there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import eigs

from .dynamics import Dynamics
from .kinks import (KINK_TOL, kink_units, polish, side_slopes, smallest_gradient,
                    stability_class)
from .lbfgs import CONVERGED, STALLED, minimize_columns

DENSE_MAX = 1024  # above this N the Jacobian is used only as a LinearOperator
N_EIG = 20        # eigenvalues of largest magnitude computed by eigs
MARGINAL_TOL = 0.05  # |lambda - 1| below this: a marginal (slow) direction
RELAX = 30        # steps of F taken by every second start before the search
G_TOL = 1e-9      # converged: max |grad q| below this ...
X_TOL = 1e-8      # ... and the last step moved no coordinate by this much
MAX_ITER = 5000   # L-BFGS iterations per start and round at most
ROUNDS = 3        # rounds of L-BFGS and polish
POLISH_MAX = 512  # relu networks up to this N are polished (a dense solve per start)
HANDOFF = ((1e-4, 1e-3), (1e-6, 1e-5))  # relu: rounds 1, 2 stop L-BFGS here for the polish


@dataclass
class FixedPoints:
    """Unique slow points of one input (P of them, from converged starts only).

    points (P, N) states; q (P,); eigenvalues list of P complex arrays (S_p, n),
    one row per side of the point's kinks (S_p = 1 for a smooth point; n = N,
    or the n_eig of largest magnitude); n_kink (P,) units on a kink;
    stability (P,) "stable", "unstable" or "mixed" over the sides;
    n_unstable (P,) most |lambda| > 1 on any side; slowest (P,) largest
    |lambda| on any side; n_marginal (P,) count of |lambda - 1| < MARGINAL_TOL
    on the side that has fewest (a marginal direction on every side);
    complete: all eigenvalues were computed; n_starts; n_converged (starts
    that met the tolerances); n_not_converged; q_final (M,) q of every start
    at its end; converged (M,) bool.
    """

    points: np.ndarray
    q: np.ndarray
    eigenvalues: list
    n_kink: np.ndarray
    stability: np.ndarray
    n_unstable: np.ndarray
    slowest: np.ndarray
    n_marginal: np.ndarray
    complete: bool
    n_starts: int
    n_converged: int
    n_not_converged: int
    q_final: np.ndarray
    converged: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])


def deduplicate(points, q, tol):
    """Indices of the points kept: lowest q first, none within ``tol`` of a kept one."""
    order = np.argsort(q, kind="stable")
    kept = []
    for i in order:
        if not kept or np.min(np.linalg.norm(points[kept] - points[i], axis=1)) > tol:
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def jacobian_eigenvalues(dyn, h, dense_max=DENSE_MAX, n_eig=N_EIG, seed=0, slopes=None):
    """(eigenvalues, complete): all of J(h) when N <= dense_max, else the
    ``n_eig`` of largest magnitude by ARPACK on the LinearOperator;
    ``slopes`` (N,): f'(u) of one side of a kink (default: f'(u) as computed)."""
    if dyn.n <= dense_max:
        return np.linalg.eigvals(dyn.jacobian_dense(h, slopes)), True
    k = min(int(n_eig), dyn.n - 2)
    v0 = np.random.default_rng(seed).standard_normal(dyn.n)
    vals = eigs(dyn.jacobian_operator(h, slopes), k=k, which="LM", v0=v0,
                return_eigenvectors=False, maxiter=5000, tol=1e-10)
    return vals[np.argsort(-np.abs(vals))], False


def relax_starts(dyn, H, steps, cols=None):
    """H (N, M) advanced ``steps`` steps of the map F."""
    for _ in range(int(steps)):
        H = dyn.step(H, cols)
    return H


def find_fixed_points(dyn, starts, **kw) -> FixedPoints:
    """Fixed and slow points of one input (``dyn``) from ``starts`` (M, N);
    keywords as :func:`find_fixed_points_many`."""
    return find_fixed_points_many([dyn], [starts], **kw)[0]


def find_fixed_points_many(dyns, starts, q_tol=1e-4, dedup_tol=None, max_iter=MAX_ITER,
                           relax=RELAX, dense_max=DENSE_MAX, n_eig=N_EIG, max_points=None,
                           gtol=G_TOL, xtol=X_TOL, kink_tol=KINK_TOL):
    """Fixed and slow points of several inputs of one network, searched at once.

    Args:
        dyns: list of Dynamics with one drive each, the same W, activation, alpha.
        starts: list of (M_a, N) start states, one array per input.
        q_tol: a converged end state with q below it is a slow point.
        dedup_tol: distance under which two points are one (default 1e-2 times
            the RMS norm of the input's starts, at least 1e-6).
        max_iter, gtol, xtol: the L-BFGS cap and convergence tolerances.
        relax: every second start is first advanced this many steps of F
            (trajectories slow down near attractors and slow points), the
            others are minimised from where the activity was.
        max_points: at most this many unique points per input get eigenvalues
            (lowest q first).
        kink_tol: |u - kink| under which a unit is on a kink of f.
    Returns a list of FixedPoints, one per input.
    """
    d0 = dyns[0]
    if any(d.W is not d0.W for d in dyns[1:]) or \
            any((d.activation, d.alpha) != (d0.activation, d0.alpha) for d in dyns):
        raise ValueError("find_fixed_points_many needs one network: Dynamics "
                         "sharing one W object, the same f and alpha")
    starts = [np.asarray(s, dtype=np.float64) for s in starts]
    for s in starts:
        if s.ndim != 2 or s.shape[1] != d0.n:
            raise ValueError(f"starts must be (M, {d0.n}) arrays, got {s.shape}")
    sizes = [s.shape[0] for s in starts]
    C = np.concatenate([np.repeat(d.c[:, None], m, axis=1) for d, m in zip(dyns, sizes)],
                       axis=1)
    joint = Dynamics(d0.W, C, d0.activation, d0.alpha)
    H0 = np.concatenate(starts, axis=0).T.copy()
    if relax:
        odd = np.concatenate([off + np.arange(1, m, 2) for off, m in
                              zip(np.cumsum([0] + sizes[:-1]), sizes)]).astype(np.int64)
        H0[:, odd] = relax_starts(joint, H0[:, odd], relax, odd)
    owner = np.repeat(np.arange(len(dyns)), sizes)         # the input of each column
    X, ok = _search(joint, [*dyns], owner, H0, max_iter, gtol, xtol, kink_tol)
    q = joint.q(X)
    out, off = [], 0
    for d, s, m in zip(dyns, starts, sizes):
        part = slice(off, off + m)
        out.append(_summarise(d, s, X[:, part].T, q[part], ok[part], q_tol, dedup_tol,
                              dense_max, n_eig, max_points, kink_tol))
        off += m
    return out


def _search(joint, dyns, owner, H0, max_iter, gtol, xtol, kink_tol):
    """Minimise every column of H0 (N, M) to convergence (module docstring):
    for relu (N <= POLISH_MAX), ROUNDS rounds of L-BFGS, each from where the last ended, each
    followed by the polish (refrnn.analysis.kinks.polish) of every column not
    converged; one L-BFGS run for a smooth f. A relu network's first two
    rounds stop L-BFGS at the looser HANDOFF tolerances and let the polish
    finish; the last stops at gtol and xtol. Returns (X, converged (M,))."""
    X = H0.copy()
    ok = np.zeros(X.shape[1], dtype=bool)
    todo = np.arange(X.shape[1])
    polishable = joint.activation == "relu" and joint.n <= POLISH_MAX
    for rnd in range(ROUNDS if polishable else 1):
        def fg(Xs, cols, todo=todo):
            return joint.q_and_grad(Xs, todo if cols is None else todo[cols])

        g_stop, x_stop = HANDOFF[rnd] if polishable and rnd < len(HANDOFF) else (gtol, xtol)
        res = minimize_columns(fg, X[:, todo], max_iter=max_iter, gtol=max(g_stop, gtol),
                               xtol=max(x_stop, xtol))
        X[:, todo] = res.X
        ok[todo] = (res.status == CONVERGED) & (np.max(np.abs(res.G), axis=0) < gtol) & \
            (res.step < xtol)
        for j in np.flatnonzero(~ok[todo]):
            i, dyn = todo[j], dyns[owner[todo[j]]]
            h = polish(dyn, X[:, i], kink_tol) if polishable else None
            if h is not None:
                X[:, i] = h
                ok[i] = smallest_gradient(dyn, h, kink_tol) < gtol
            elif res.status[j] == STALLED or res.step[j] < xtol:
                ok[i] = smallest_gradient(dyn, X[:, i], kink_tol) < gtol
        todo = np.flatnonzero(~ok)
        if todo.size == 0:
            break
    return X, ok


def describe_point(dyn, h, kink_tol=KINK_TOL, dense_max=DENSE_MAX, n_eig=N_EIG) -> dict:
    """Stability of one point h (N,) on every side of its kinks: eigenvalues
    (S, n), n_kink, stability ("stable", "unstable", "mixed"), n_unstable
    (most on a side), slowest (largest |lambda|), n_marginal (fewest
    |lambda - 1| < MARGINAL_TOL on a side), complete (all eigenvalues)."""
    ev, complete = [], True
    for s in side_slopes(dyn, h, kink_tol):
        e, full = jacobian_eigenvalues(dyn, h, dense_max, n_eig, slopes=s)
        ev.append(e)
        complete &= full
    ev = np.array(ev)
    n_uns = np.sum(np.abs(ev) > 1.0 + 1e-9, axis=1)
    return {"eigenvalues": ev, "n_kink": int(kink_units(dyn, h, kink_tol)[0].size),
            "stability": stability_class(n_uns), "n_unstable": int(n_uns.max()),
            "slowest": float(np.abs(ev).max()),
            "n_marginal": int(np.min(np.sum(np.abs(ev - 1.0) < MARGINAL_TOL, axis=1))),
            "complete": bool(complete)}


def _summarise(dyn, starts, H, q, ok, q_tol, dedup_tol, dense_max, n_eig, max_points,
               kink_tol):
    if dedup_tol is None:
        dedup_tol = max(1e-6, 1e-2 * float(np.sqrt(np.mean(np.sum(starts ** 2, axis=1)))))
    good = np.flatnonzero(ok & (q < q_tol))
    keep = good[deduplicate(H[good], q[good], dedup_tol)] if good.size else good
    if max_points is not None:
        keep = keep[:int(max_points)]
    desc = [describe_point(dyn, H[i], kink_tol, dense_max, n_eig) for i in keep]
    vals = [d["eigenvalues"] for d in desc]
    col = {k: [d[k] for d in desc] for k in ("n_kink", "stability", "n_unstable", "slowest",
                                            "n_marginal", "complete")}
    return FixedPoints(
        points=H[keep], q=q[keep], eigenvalues=vals,
        n_kink=np.array(col["n_kink"], dtype=np.int64),
        stability=np.array(col["stability"], dtype="<U8"),
        n_unstable=np.array(col["n_unstable"], dtype=np.int64),
        slowest=np.array(col["slowest"], dtype=np.float64),
        n_marginal=np.array(col["n_marginal"], dtype=np.int64),
        complete=bool(all(col["complete"])), n_starts=int(starts.shape[0]),
        n_converged=int(ok.sum()), n_not_converged=int((~ok).sum()), q_final=q,
        converged=ok)
