"""Ragged batches of trials: the one data structure tasks, cache and data share.

n trials of one task, of different lengths, are stored back to back:

    obs       float32 (S, 33)   noise-free observations, S = total steps
    labels    int64   (S,)      target class per step, 0 = fixate, k = ring unit k-1
    noise     uint8   (S,)      input-noise code per step (see NOISE_UNITS)
    offsets   int64   (n + 1,)  trial i is rows offsets[i]:offsets[i+1]
    bounds    int64   (n, P+1)  period boundaries of each trial, in steps
                                relative to its onset: bounds[:, 0] == 0,
                                bounds[:, -1] == trial length; period p is
                                steps bounds[:, p]:bounds[:, p+1]
    period_names tuple of P str  e.g. ("fixation", "stimulus", "delay", "decision")
    params    dict str -> (n,)  the per-trial parameters the trials were
                                rendered from (reference trial-dict names)

Input noise is never baked into ``obs``; it is added when a trial is served
(``refrnn.data.stream.gather_noisy_obs``), from the per-step noise code, so a
cached trial never repeats its noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_OBS = 33  # fixation + two rings of 16
N_CLASSES = 17  # fixate + 16 ring directions
DEFAULT_DT = 100  # ms: every task set's step (docs/tasks.md, "Encoding")
RING = 16

# Which of the 33 observation units get input noise, by per-step noise code.
# NOISE_RINGS (both rings, fixation unit spared) is neurogym 2.3.1's DM rule.
NOISE_NONE, NOISE_ALL, NOISE_MOD1, NOISE_MOD2, NOISE_RINGS = 0, 1, 2, 3, 4
NOISE_UNITS = np.zeros((5, N_OBS), dtype=bool)  # (code, unit)
NOISE_UNITS[NOISE_ALL, :] = True
NOISE_UNITS[NOISE_MOD1, 1:1 + RING] = True
NOISE_UNITS[NOISE_MOD2, 1 + RING:1 + 2 * RING] = True
NOISE_UNITS[NOISE_RINGS, 1:1 + 2 * RING] = True


def check_int(name: str, v, lo: int = 1) -> int:
    """``v`` as an int when it is an integer (not a bool) >= ``lo``; else
    ValueError "<name> must be an integer >= <lo>, got <v>". The one check of a
    count, size or seed in every layer (tasks are the lowest that all import)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def input_noise_std(dt: float) -> float:
    """Per-step input-noise standard deviation, 1 / sqrt(dt) (0.1 at dt=100 ms)."""
    return 1.0 / float(np.sqrt(dt))


class TrialIndex:
    """What a task's trials say about their timing, from ``offsets`` (n+1,)
    and ``bounds`` (n, P+1) with ``period_names``; shared by
    :class:`TrialBatch` and refrnn.data.compact.CompactTrials."""

    @property
    def n_trials(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64 trial lengths in steps."""
        return np.diff(self.offsets)

    def period(self, name: str) -> np.ndarray:
        """(n, 2) int64 start and end step of period ``name`` in each trial."""
        p = self.period_names.index(name)
        return self.bounds[:, p:p + 2].astype(np.int64, copy=False)

    @property
    def decision_start(self) -> np.ndarray:
        """(n,) first step of the decision period in each trial."""
        return self.period("decision")[:, 0]


@dataclass
class TrialBatch(TrialIndex):
    """n rendered trials of one task, stored ragged (see module docstring)."""

    task: str
    obs: np.ndarray
    labels: np.ndarray
    noise: np.ndarray
    offsets: np.ndarray
    bounds: np.ndarray
    period_names: tuple
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        s = self.obs.shape[0]
        n = self.offsets.shape[0] - 1
        if self.obs.shape != (s, N_OBS):
            raise ValueError(f"obs must be (S, {N_OBS}), got {self.obs.shape}")
        if self.labels.shape != (s,) or self.noise.shape != (s,):
            raise ValueError("labels and noise must be (S,) like obs")
        if self.offsets[0] != 0 or self.offsets[-1] != s:
            raise ValueError("offsets must start at 0 and end at S")
        if self.bounds.shape != (n, len(self.period_names) + 1):
            raise ValueError(
                f"bounds must be (n, P+1) = ({n}, {len(self.period_names) + 1}),"
                f" got {self.bounds.shape}")

    def trial(self, i: int):
        """Return (obs (T, 33), labels (T,)) of trial i, views into the batch."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.obs[a:b], self.labels[a:b]

    def subset(self, idx) -> "TrialBatch":
        """A new TrialBatch holding trials ``idx`` (1-D int array), in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.lengths[idx]
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = np.repeat(self.offsets[idx] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return TrialBatch(
            self.task, self.obs[rows], self.labels[rows], self.noise[rows],
            offsets, self.bounds[idx], self.period_names,
            {k: v[idx] for k, v in self.params.items()})
