"""Task variance of each unit (Yang et al. 2019, Nature Neuroscience 22:297).

For unit i and task a, with h_i(t, k) the state of trial k at step t:

    TV_i(a) = mean over t of  Var_k h_i(t, k)

the variance across the task's trials at each step (over the trials still
running at t: each trial counts on its own length; steps with fewer than two
trials are left out), averaged over steps. Units whose summed variance
sum_a TV_i(a) is below ``threshold`` are left out (and counted), the rest
normalised by their maximum over tasks: nTV_i(a) = TV_i(a) / max_b TV_i(b).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 1e-3  # Yang et al. 2019 drop units whose summed variance is below 1e-3


def task_variance(h, valid) -> np.ndarray:
    """TV of every unit for one task.

    Args:
        h: (T, n, N) states; valid: (T, n) bool, the steps inside each trial.
    Returns:
        (N,) float64.
    """
    h = np.asarray(h, dtype=np.float64)
    w = np.asarray(valid, dtype=np.float64)[..., None]          # (T, n, 1)
    cnt = w.sum(axis=1)                                          # (T, 1)
    use = cnt[:, 0] >= 2
    if not use.any():
        raise ValueError("task variance needs two trials running at some step")
    h, w, cnt = h[use], w[use], cnt[use]
    mean = (h * w).sum(axis=1) / cnt                             # (T', N)
    var = (w * (h - mean[:, None, :]) ** 2).sum(axis=1) / cnt    # population variance
    return var.mean(axis=0)


@dataclass
class TaskVariance:
    """Task variance of the kept units.

    tv (N, A) raw TV of every unit; kept (N,) bool; norm (U, A) the kept
    units' normalised TV (U = kept.sum()); tasks: the A task names.
    """

    tv: np.ndarray
    kept: np.ndarray
    norm: np.ndarray
    tasks: list
    threshold: float

    @property
    def n_dropped(self) -> int:
        return int(self.kept.size - self.kept.sum())


def normalise(tv, tasks, threshold=THRESHOLD) -> TaskVariance:
    """Drop units with sum_a TV below ``threshold``; divide the rest by their max."""
    tv = np.asarray(tv, dtype=np.float64)
    if tv.ndim != 2 or tv.shape[1] != len(tasks):
        raise ValueError(f"tv must be (N, {len(tasks)}), got {tv.shape}")
    kept = tv.sum(axis=1) >= threshold
    sub = tv[kept]
    return TaskVariance(tv, kept, sub / sub.max(axis=1, keepdims=True), list(tasks),
                        float(threshold))
