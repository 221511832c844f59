"""Fractional task variance of a task pair (Yang et al. 2019, figure 3):

    FTV_i(A, B) = (TV_i(A) - TV_i(B)) / (TV_i(A) + TV_i(B))   in [-1, 1]

+1: unit i varies only in task A, -1: only in B, 0: equally. Over the pair's
own units, as Yang et al. select them (gyyang/multitask 817e23d,
analysis/variance.py ``_compute_hist_varprop``): every unit with
TV_i(A) + TV_i(B) > 1e-3, whether or not it passes the threshold over all
tasks (it always does: the pair's sum is part of that sum).
"""
from __future__ import annotations

import numpy as np

from .task_variance import THRESHOLD

# Pairs drawn by default when both tasks are analysed (ctxdm1/ctxdm2 and
# dm1/ctxdm1 are pairs of Yang et al. 2019's figure 3; go/anti and dms/dmc
# add a pro/anti and a match-rule pair).
DEFAULT_PAIRS = (("ctxdm1", "ctxdm2"), ("dm1", "ctxdm1"), ("go", "anti"), ("dms", "dmc"))


def pair_units(tv_a, tv_b, threshold=THRESHOLD) -> np.ndarray:
    """(U',) int indices of the units with TV(A) + TV(B) > ``threshold``; tv_a, tv_b (N,)."""
    s = np.asarray(tv_a, dtype=np.float64) + np.asarray(tv_b, dtype=np.float64)
    return np.flatnonzero(s > threshold)


def fractional_variance(tv_a, tv_b, threshold=THRESHOLD) -> np.ndarray:
    """FTV of the units ``pair_units`` selects, in that order; tv_a, tv_b (N,) -> (U',)."""
    a, b = np.asarray(tv_a, dtype=np.float64), np.asarray(tv_b, dtype=np.float64)
    i = pair_units(a, b, threshold)
    return (a[i] - b[i]) / (a[i] + b[i])


def default_pairs(tasks):
    """The DEFAULT_PAIRS whose tasks are both in ``tasks``; else the first two tasks."""
    have = set(tasks)
    pairs = [p for p in DEFAULT_PAIRS if p[0] in have and p[1] in have]
    if not pairs and len(tasks) >= 2:
        pairs = [(tasks[0], tasks[1])]
    return pairs
