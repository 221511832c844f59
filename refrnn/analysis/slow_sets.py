"""Continuous sets of slow points: checked along the set, not read off one eigenvalue.

    continuous_sets(dyn, fp, q_tol, dedup_tol) -> list of SlowSet, largest first

A line, ring or plane attractor (or a slow manifold) is a connected set of
states where q stays small; isolated fixed points are separated by faster
flow, even when an eigenvalue at each of them is near 1. The rule:

1. Only points with a marginal direction on every side of their kinks count
   (``FixedPoints.n_marginal`` >= 1, |lambda - 1| < MARGINAL_TOL); a
   marginal eigenvalue on one side of a kink only is none.
2. Two such points are joined when q stays below ``q_tol`` along a path
   between them (each point is tried with its NEIGHBOURS nearest such
   points): the straight segment, q evaluated at PATH_SAMPLES evenly spaced
   states; where that rises above ``q_tol``, a bent path: the segment's
   midpoint is relaxed (L-BFGS on q, BEND_ITER iterations, within the
   hyperplane through it perpendicular to the segment, so it cannot slide to
   an end) and, when the relaxed midpoint is slow, each half is checked the
   same way, down to BEND_DEPTH halvings (at most 2^BEND_DEPTH segments). A
   slow manifold is rarely straight; this follows a curved one.
3. A continuous set is a connected group of at least two joined points; its
   dimension is the fewest marginal directions among its points.

Isolated points never form one: a point joined to none is no set, whatever
its eigenvalues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lbfgs import minimize_columns

PATH_SAMPLES = 32   # states of each segment where q is evaluated (ends excluded)
NEIGHBOURS = 4      # each point's segments go to this many nearest marginal points
BEND_DEPTH = 3      # a bent path has at most 2^3 = 8 straight segments
BEND_ITER = 300     # L-BFGS iterations relaxing one midpoint


@dataclass
class SlowSet:
    """One continuous set: members (K,) indices into the FixedPoints' points,
    dim its dimension, q_path the largest q on the paths that join them."""

    members: np.ndarray
    dim: int
    q_path: float


def path_q(dyn, a, b, samples=PATH_SAMPLES) -> np.ndarray:
    """q at ``samples`` interior states of the segment from a (N,) to b (N,)."""
    t = np.arange(1, samples + 1) / (samples + 1)
    H = a[:, None] + (b - a)[:, None] * t[None, :]
    return dyn.q(H)


def relaxed_midpoint(dyn, a, b, iters=BEND_ITER) -> np.ndarray:
    """The midpoint of a (N,) and b (N,) moved down q within the hyperplane
    through it perpendicular to b - a (the gradient projected onto it)."""
    e = (b - a) / np.linalg.norm(b - a)

    def fg(X, cols):
        q, G = dyn.q_and_grad(X)
        return q, G - np.outer(e, e @ G)

    return minimize_columns(fg, ((a + b) / 2)[:, None], max_iter=iters, gtol=1e-14,
                            xtol=0.0).X[:, 0]


def slow_path(dyn, a, b, q_tol, depth=BEND_DEPTH, samples=PATH_SAMPLES) -> float:
    """Largest q along the path from a to b (module docstring, rule 2): the
    straight segment's when it is below ``q_tol`` or ``depth`` is spent, else
    that of the bent path through the relaxed midpoint (when that is slow)."""
    straight = float(np.max(path_q(dyn, a, b, samples)))
    if straight < q_tol or depth == 0:
        return straight
    m = relaxed_midpoint(dyn, a, b)
    if dyn.q(m) >= q_tol:
        return straight
    return max(slow_path(dyn, a, m, q_tol, depth - 1, samples),
               slow_path(dyn, m, b, q_tol, depth - 1, samples))


def continuous_sets(dyn, fp, q_tol, neighbours=NEIGHBOURS, depth=BEND_DEPTH) -> list:
    """The continuous sets among ``fp``'s points (module docstring), largest first."""
    cand = np.flatnonzero(fp.n_marginal >= 1)
    if cand.size < 2:
        return []
    P = fp.points[cand]
    dist = np.linalg.norm(P[:, None, :] - P[None, :, :], axis=2)
    parent = list(range(cand.size))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    path_max = {}
    for i in range(cand.size):
        for j in np.argsort(dist[i])[1:neighbours + 1]:
            key = (min(i, int(j)), max(i, int(j)))
            if key in path_max:
                continue
            path_max[key] = slow_path(dyn, P[key[0]], P[key[1]], q_tol, depth)
            if path_max[key] < q_tol:
                parent[root(key[0])] = root(key[1])
    groups = {}
    for i in range(cand.size):
        groups.setdefault(root(i), []).append(i)
    sets = []
    for g in groups.values():
        if len(g) < 2:
            continue
        inside = [v for (a, b), v in path_max.items() if a in g and b in g and v < q_tol]
        sets.append(SlowSet(members=cand[np.array(sorted(g))],
                            dim=int(fp.n_marginal[cand[g]].min()), q_path=max(inside)))
    return sorted(sets, key=lambda s: -s.members.size)
