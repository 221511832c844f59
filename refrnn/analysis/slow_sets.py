"""Continuous sets of slow points: checked along the set, not read off one eigenvalue.

    continuous_sets(dyn, fp, q_tol, dedup_tol) -> list of SlowSet, largest first

A line, ring or plane attractor (or a slow manifold) is a connected set of
states where q stays small; isolated fixed points are separated by faster
flow, even when an eigenvalue at each of them is near 1. The rule:

1. Only points with a marginal direction on every side of their kinks count
   (``FixedPoints.n_marginal`` >= 1, |lambda - 1| < MARGINAL_TOL); a
   marginal eigenvalue on one side of a kink only is none.
2. Two such points are joined when q stays below ``q_tol`` at PATH_SAMPLES
   evenly spaced states of the straight segment between them (each point is
   tried with its NEIGHBOURS nearest such points).
3. A continuous set is a connected group of at least two joined points; its
   dimension is the fewest marginal directions among its points.

Isolated points never form one: a point joined to none is no set, whatever
its eigenvalues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATH_SAMPLES = 32   # states of each segment where q is evaluated (ends excluded)
NEIGHBOURS = 4      # each point's segments go to this many nearest marginal points


@dataclass
class SlowSet:
    """One continuous set: members (K,) indices into the FixedPoints' points,
    dim its dimension, q_path the largest q on its joining segments."""

    members: np.ndarray
    dim: int
    q_path: float


def path_q(dyn, a, b, samples=PATH_SAMPLES) -> np.ndarray:
    """q at ``samples`` interior states of the segment from a (N,) to b (N,)."""
    t = np.arange(1, samples + 1) / (samples + 1)
    H = a[:, None] + (b - a)[:, None] * t[None, :]
    return dyn.q(H)


def continuous_sets(dyn, fp, q_tol, samples=PATH_SAMPLES, neighbours=NEIGHBOURS) -> list:
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
            path_max[key] = float(np.max(path_q(dyn, P[key[0]], P[key[1]], samples)))
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
