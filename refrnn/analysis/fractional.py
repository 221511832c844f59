"""Fractional task variance of a task pair (Yang et al. 2019, figure 3):

    FTV_i(A, B) = (TV_i(A) - TV_i(B)) / (TV_i(A) + TV_i(B))   in [-1, 1]

+1: unit i varies only in task A, -1: only in B, 0: equally. Over the kept
units (refrnn.analysis.task_variance) whose TV_i(A) + TV_i(B) > 0.
"""
from __future__ import annotations

import numpy as np

# Pairs drawn by default when both tasks are analysed (ctxdm1/ctxdm2 and
# dm1/ctxdm1 are pairs of Yang et al. 2019's figure 3; go/anti and dms/dmc
# add a pro/anti and a match-rule pair).
DEFAULT_PAIRS = (("ctxdm1", "ctxdm2"), ("dm1", "ctxdm1"), ("go", "anti"), ("dms", "dmc"))


def fractional_variance(tv_a, tv_b) -> np.ndarray:
    """FTV of every unit with TV(A) + TV(B) > 0; tv_a, tv_b (U,) -> (U',)."""
    a, b = np.asarray(tv_a, dtype=np.float64), np.asarray(tv_b, dtype=np.float64)
    s = a + b
    ok = s > 0
    return (a[ok] - b[ok]) / s[ok]


def default_pairs(tasks):
    """The DEFAULT_PAIRS whose tasks are both in ``tasks``; else the first two tasks."""
    have = set(tasks)
    pairs = [p for p in DEFAULT_PAIRS if p[0] in have and p[1] in have]
    if not pairs and len(tasks) >= 2:
        pairs = [(tasks[0], tasks[1])]
    return pairs
