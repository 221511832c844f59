"""Task variance of each unit (Yang et al. 2019, Nature Neuroscience 22:297).

For unit i and task a, with h_i(s, k) the state of trial k at step s after
its stimulus onset (the end of its fixation period, F_k; s = t - F_k):

    TV_i(a) = mean over s of  Var_k h_i(s, k)

each trial's fixation period dropped, the trials aligned at stimulus onset,
the variance (ddof 0) across the trials still running at each aligned step
(each trial counts on its own length; steps with fewer than two trials are
left out), averaged over aligned steps. This is Yang et al.'s
``h[trial.epochs['fix1'][1]:].var(axis=1).mean(axis=0)`` (gyyang/multitask
817e23d, analysis/variance.py) for trials that do not share one timing.

Statistics (``STATISTICS``): ``"yang"`` (the above, the default) and
``"all-steps"`` (refrnn up to b65a536: every step, fixation included, trials
aligned at their first step; only when asked for by name).

Units whose summed variance sum_a TV_i(a) is not above ``threshold`` are
left out (and counted), the rest normalised by their maximum over tasks:
nTV_i(a) = TV_i(a) / max_b TV_i(b).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 1e-3  # Yang et al. 2019 keep units whose summed variance is above 1e-3
STATISTICS = ("yang", "all-steps")
DEFAULT_STATISTIC = "yang"


def check_statistic(statistic) -> str:
    """``statistic`` if it is one of STATISTICS, else ValueError naming it."""
    if statistic not in STATISTICS:
        raise ValueError(f"task-variance statistic must be one of {STATISTICS}, "
                         f"got {statistic!r}")
    return statistic


def align_at(h, valid, start):
    """Shift each trial so that its step ``start[k]`` becomes step 0.

    Args:
        h: (T, n, N) states; valid: (T, n) bool, the steps inside each trial;
        start: (n,) int, 0 <= start[k] <= the trial's length.
    Returns:
        (h', valid'): (T', n, N) and (T', n), T' the longest remaining trial;
        h'[s, k] = h[start[k] + s, k] where valid, zeros elsewhere.
    """
    h, valid = np.asarray(h), np.asarray(valid, dtype=bool)
    start = np.asarray(start, dtype=np.int64)
    T, n = valid.shape
    lengths = valid.sum(axis=0)
    if start.shape != (n,) or np.any(start < 0) or np.any(start > lengths):
        raise ValueError(f"start must be ({n},) steps within each trial, got {start!r}")
    Tp = int((lengths - start).max())
    t = np.arange(Tp)[:, None] + start[None, :]                  # (T', n) source step
    ok = t < lengths[None, :]
    cols = np.broadcast_to(np.arange(n), t.shape)
    out = np.zeros((Tp, n) + h.shape[2:], dtype=h.dtype)
    out[ok] = h[t[ok], cols[ok]]
    return out, ok


def variance_across_trials(h, valid) -> np.ndarray:
    """mean over steps of the variance (ddof 0) across the trials running at
    that step; steps with fewer than two running trials are left out.

    Args:
        h: (T, n, N) states; valid: (T, n) bool.
    Returns:
        (N,) float64.
    """
    h = np.asarray(h, dtype=np.float64)
    w = np.asarray(valid, dtype=np.float64)[..., None]          # (T, n, 1)
    cnt = w.sum(axis=1)                                          # (T, 1)
    use = cnt[:, 0] >= 2  # one trial's variance is 0 by construction: not a measurement
    if not use.any():
        raise ValueError("task variance needs two trials running at some step")
    h, w, cnt = h[use], w[use], cnt[use]
    mean = (h * w).sum(axis=1) / cnt                             # (T', N)
    var = (w * (h - mean[:, None, :]) ** 2).sum(axis=1) / cnt    # population variance
    return var.mean(axis=0)


def task_variance(h, valid, fixation_end=None, statistic=DEFAULT_STATISTIC) -> np.ndarray:
    """TV of every unit for one task.

    Args:
        h: (T, n, N) states; valid: (T, n) bool, the steps inside each trial
            (each trial's steps 0 .. length - 1).
        fixation_end: (n,) int, the first step after each trial's fixation
            period (its stimulus onset); needed by ``"yang"``.
        statistic: one of STATISTICS.
    Returns:
        (N,) float64.
    """
    if check_statistic(statistic) == "all-steps":
        return variance_across_trials(h, valid)
    if fixation_end is None:
        raise ValueError("the 'yang' task variance needs each trial's fixation_end")
    return variance_across_trials(*align_at(h, valid, fixation_end))


@dataclass
class TaskVariance:
    """Task variance of the kept units.

    tv (N, A) raw TV of every unit; kept (N,) bool; norm (U, A) the kept
    units' normalised TV (U = kept.sum()); tasks: the A task names;
    statistic: which of STATISTICS gave ``tv``.
    """

    tv: np.ndarray
    kept: np.ndarray
    norm: np.ndarray
    tasks: list
    threshold: float
    statistic: str = DEFAULT_STATISTIC

    @property
    def n_dropped(self) -> int:
        return int(self.kept.size - self.kept.sum())


def normalise(tv, tasks, threshold=THRESHOLD, statistic=DEFAULT_STATISTIC) -> TaskVariance:
    """Keep units with sum_a TV above ``threshold`` (Yang's ``> 1e-3``); divide
    each kept unit's TV by its max over tasks. tv (N, A)."""
    tv = np.asarray(tv, dtype=np.float64)
    if tv.ndim != 2 or tv.shape[1] != len(tasks):
        raise ValueError(f"tv must be (N, {len(tasks)}), got {tv.shape}")
    kept = tv.sum(axis=1) > threshold
    sub = tv[kept]
    return TaskVariance(tv, kept, sub / sub.max(axis=1, keepdims=True), list(tasks),
                        float(threshold), check_statistic(statistic))
