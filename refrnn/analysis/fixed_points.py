"""Fixed and slow points: minimise q(h) from many starts (Sussillo & Barak 2013).

    find_fixed_points(dyn, starts, ...)  -> FixedPoints (unique points, q, eigenvalues)
    jacobian_eigenvalues(dyn, h, ...)    -> eigenvalues of J(h), dense or by eigs
    set_dimension(points, share)         -> PCs holding ``share`` of the points' variance

Every start is minimised by its own L-BFGS (refrnn.analysis.lbfgs, all
starts of all inputs side by side), with the hand-written gradient of
refrnn.analysis.dynamics; every second start first takes RELAX steps of F. Points with q below ``q_tol`` are
kept and de-duplicated greedily (lowest q first; a point closer than
``dedup_tol`` to one already kept is dropped: 1% of the starts' RMS norm). Eigenvalues of the Jacobian:
dense ``numpy.linalg.eigvals`` up to ``DENSE_MAX`` units, above it the
``n_eig`` of largest magnitude from ``scipy.sparse.linalg.eigs`` on a
LinearOperator (the sparse W_rec is never made dense there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import eigs

from .dynamics import Dynamics
from .lbfgs import minimize_columns

DENSE_MAX = 1024  # above this N the Jacobian is used only as a LinearOperator
N_EIG = 20        # eigenvalues of largest magnitude computed by eigs
MARGINAL_TOL = 0.05  # |lambda - 1| below this: a marginal (slow) direction
SET_SHARE = 0.9   # variance share that defines a set's dimension
MIN_SET = 5       # unique points a "continuous set" needs at least
RELAX = 30        # steps of F taken by every second start before the search


@dataclass
class FixedPoints:
    """Unique slow points of one input.

    points (P, N) states; q (P,); eigenvalues list of P complex arrays
    (all N, or the n_eig of largest magnitude); n_unstable (P,) count of
    |lambda| > 1 (among those computed); slowest (P,) largest |lambda|;
    n_marginal (P,) count of |lambda - 1| < MARGINAL_TOL; complete (bool):
    all eigenvalues were computed; n_starts, n_converged (q < q_tol before
    de-duplication); q_final (M,) q of every start after the minimisation.
    """

    points: np.ndarray
    q: np.ndarray
    eigenvalues: list
    n_unstable: np.ndarray
    slowest: np.ndarray
    n_marginal: np.ndarray
    complete: bool
    n_starts: int
    n_converged: int
    q_final: np.ndarray

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


def jacobian_eigenvalues(dyn, h, dense_max=DENSE_MAX, n_eig=N_EIG, seed=0):
    """(eigenvalues, complete): all of J(h) when N <= dense_max, else the
    ``n_eig`` of largest magnitude by ARPACK on the LinearOperator."""
    if dyn.n <= dense_max:
        return np.linalg.eigvals(dyn.jacobian_dense(h)), True
    k = min(int(n_eig), dyn.n - 2)
    v0 = np.random.default_rng(seed).standard_normal(dyn.n)
    vals = eigs(dyn.jacobian_operator(h), k=k, which="LM", v0=v0,
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


def find_fixed_points_many(dyns, starts, q_tol=1e-4, dedup_tol=None, max_iter=500,
                           relax=RELAX, dense_max=DENSE_MAX, n_eig=N_EIG, max_points=None):
    """Fixed and slow points of several inputs of one network, searched at once.

    Args:
        dyns: list of Dynamics with one drive each, the same W, activation, alpha.
        starts: list of (M_a, N) start states, one array per input.
        q_tol: keep end states with q below it.
        dedup_tol: distance under which two points are one (default 1e-2 times
            the RMS norm of the input's starts, at least 1e-6).
        relax: every second start is first advanced this many steps of F
            (trajectories slow down near attractors and slow points), the
            others are minimised from where the activity was.
        max_points: at most this many unique points per input get eigenvalues
            (lowest q first).
    Returns a list of FixedPoints, one per input.
    """
    d0 = dyns[0]
    if any(d.W is not d0.W for d in dyns[1:]) or \
            any((d.activation, d.alpha) != (d0.activation, d0.alpha) for d in dyns):
        raise ValueError("find_fixed_points_many needs one network: Dynamics "
                         "sharing one W object, the same f and alpha")
    starts = [np.asarray(s, dtype=np.float64) for s in starts]
    sizes = [s.shape[0] for s in starts]
    C = np.concatenate([np.repeat(d.c[:, None], m, axis=1) for d, m in zip(dyns, sizes)],
                       axis=1)
    joint = Dynamics(d0.W, C, d0.activation, d0.alpha)
    H0 = np.concatenate(starts, axis=0).T.copy()
    if relax:
        odd = np.concatenate([off + np.arange(1, m, 2) for off, m in
                              zip(np.cumsum([0] + sizes[:-1]), sizes)]).astype(np.int64)
        H0[:, odd] = relax_starts(joint, H0[:, odd], relax, odd)
    H, _, _ = minimize_columns(joint.q_and_grad, H0, max_iter=max_iter, gtol=1e-12)
    q = joint.q(H)
    out, off = [], 0
    for d, s, m in zip(dyns, starts, sizes):
        out.append(_summarise(d, s, H[:, off:off + m].T, q[off:off + m], q_tol, dedup_tol,
                              dense_max, n_eig, max_points))
        off += m
    return out


def _summarise(dyn, starts, H, q, q_tol, dedup_tol, dense_max, n_eig, max_points):
    if dedup_tol is None:
        dedup_tol = max(1e-6, 1e-2 * float(np.sqrt(np.mean(np.sum(starts ** 2, axis=1)))))
    good = np.flatnonzero(q < q_tol)
    keep = good[deduplicate(H[good], q[good], dedup_tol)] if good.size else good
    if max_points is not None:
        keep = keep[:int(max_points)]
    vals, complete = [], True
    for i in keep:
        ev, full = jacobian_eigenvalues(dyn, H[i], dense_max, n_eig)
        vals.append(ev)
        complete &= full
    mags = [np.abs(v) for v in vals]
    return FixedPoints(
        points=H[keep], q=q[keep], eigenvalues=vals,
        n_unstable=np.array([int(np.sum(m > 1.0 + 1e-9)) for m in mags], dtype=np.int64),
        slowest=np.array([float(m.max()) for m in mags]),
        n_marginal=np.array([int(np.sum(np.abs(v - 1.0) < MARGINAL_TOL)) for v in vals],
                            dtype=np.int64),
        complete=bool(complete), n_starts=int(starts.shape[0]),
        n_converged=int(good.size), q_final=q)


def set_dimension(points, share=SET_SHARE) -> int:
    """Number of principal components holding ``share`` of the variance of
    ``points`` (P, N); 0 for fewer than two points."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] < 2:
        return 0
    s = np.linalg.svd(points - points.mean(axis=0), compute_uv=False) ** 2
    if s.sum() <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(s) / s.sum(), share - 1e-12) + 1)


def is_continuous_set(fp: FixedPoints) -> bool:
    """At least MIN_SET unique slow points, most of them with a marginal
    eigenvalue (|lambda - 1| < MARGINAL_TOL): the signature of a line, ring
    or plane of slow points rather than isolated fixed points."""
    return bool(fp.n_points >= MIN_SET and np.median(fp.n_marginal) >= 1)
