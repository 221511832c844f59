"""Hidden states of a network on held-out trials, noise off, one task at a time.

    load_network(run_dir, checkpoint)  -> Network (config, model, test trials, task names)
    task_activity(model, trials, ...)  -> TaskActivity of one task

Memory: one task's states at a time, n_trials x T_max x N float32
(100 trials x 60 steps x 256 units: 6 MB); the forward pass runs in
batches of ``batch_size`` trials. Padding steps (after a trial's own end)
are marked by ``valid`` and never enter a statistic.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.whole_trials import trial_batch
from ..run.open_run import load_run
from ..run.run_dir import CHECKPOINT_NAMES
from ..run.settings import ConfigError, TrainConfig


class AnalysisError(ValueError):
    """Input the analysis cannot use (a run, checkpoint or task list)."""


@dataclass
class Network:
    """A trained network read back from its run directory."""

    run_dir: Path
    config: TrainConfig
    model: object
    test_trials: dict
    task_names: list
    step: int
    checkpoint: str


@dataclass
class TaskActivity:
    """States of one task's held-out trials.

    h (T, n, N) float32 states h_t (zeros on padding); valid (T, n) bool;
    lengths (n,) steps; first_obs (33,) the observation at step 0 (the
    fixation period: fixation unit on, stimuli off); delay (T, n) bool: the
    steps whose observation is first_obs again after one that was not (a
    delay or memory period: the fixation-period input, with a stimulus
    already seen); fixation_end (n,) int64: the first step after each
    trial's fixation period (its stimulus onset), None for a task without a
    period named "fixation".
    """

    task: str
    h: np.ndarray
    valid: np.ndarray
    lengths: np.ndarray
    first_obs: np.ndarray
    delay: np.ndarray
    fixation_end: np.ndarray | None = None

    def states(self) -> np.ndarray:
        """Every valid state, (S, N), S = sum of the lengths."""
        return self.h[self.valid]

    def delay_states(self) -> np.ndarray:
        """The states of the delay steps, (D, N); D may be 0."""
        return self.h[self.delay]


def load_network(run_dir, checkpoint=None) -> Network:
    """Open RUN_DIR (:func:`refrnn.run.open_run.load_run`, on the CPU): its settings,
    its ``checkpoint`` (None: best when it exists, else last), the network and its
    test trials. AnalysisError (one line) when RUN_DIR is not a run or has no
    such checkpoint."""
    if checkpoint is not None and checkpoint not in CHECKPOINT_NAMES:
        raise AnalysisError(f"checkpoint must be one of {CHECKPOINT_NAMES}, got {checkpoint!r}")
    try:
        run = load_run(run_dir, checkpoint, device="cpu")  # NumPy/SciPy analysis
    except ConfigError as e:
        raise AnalysisError(str(e)) from None
    return Network(run.run_dir, run.config, run.model, run.test_trials, run.task_names,
                   run.step, run.checkpoint_name)


def task_activity(model, trials, task_index: int, n_tasks: int, batch_size=100,
                  max_trials=None) -> TaskActivity:
    """Run ``model`` noise-free over the trials of one task (a TrialBatch).

    Args:
        task_index, n_tasks: the task's one-hot index and the one-hot width.
        max_trials: use only the first ``max_trials`` trials (default all).
    """
    n = trials.n_trials if max_trials is None else min(int(max_trials), trials.n_trials)
    if n < 1:
        raise AnalysisError(f"task {trials.task!r} has no test trials")
    lengths = trials.lengths[:n].astype(np.int64)
    T, N = int(lengths.max()), model.config.hidden
    h = np.zeros((T, n, N), dtype=np.float32)
    to_np = model.backend.to_numpy
    for a in range(0, n, int(batch_size)):
        idx = np.arange(a, min(n, a + int(batch_size)))
        batch, _, ln = trial_batch(trials, task_index, n_tasks, idx, backend=model.backend)
        _, cache = model.forward(batch.x)  # no rng, no noise: the noise-free network
        hb = np.asarray(to_np(cache.hidden()), dtype=np.float32)
        h[:hb.shape[0], idx] = hb
    valid = np.arange(T)[:, None] < lengths[None, :]
    h[~valid] = 0.0
    first = np.asarray(trials.trial(0)[0][0], dtype=np.float64)
    fix_end = (trials.period("fixation")[:n, 1].astype(np.int64)
               if "fixation" in trials.period_names else None)
    return TaskActivity(trials.task, h, valid, lengths, first,
                        delay_steps(trials, n, T, first), fix_end)


def delay_steps(trials, n: int, T: int, first_obs) -> np.ndarray:
    """(T, n) bool: step t of trial i has the observation ``first_obs`` and
    some earlier step of that trial did not (the input is back to the
    fixation-period one after a stimulus). Exact comparison: cached
    observations carry no noise."""
    same = np.zeros((T, n), dtype=bool)
    obs = trials.obs  # compact trials (refrnn.data.compact) render it on each access
    for i in range(n):
        rows = obs[trials.offsets[i]:trials.offsets[i + 1]]
        same[:rows.shape[0], i] = np.all(rows == first_obs, axis=1)
    valid = np.arange(T)[:, None] < trials.lengths[:n][None, :]
    seen_other = np.zeros((T, n), dtype=bool)
    seen_other[1:] = np.logical_or.accumulate(valid[:-1] & ~same[:-1], axis=0)
    return same & seen_other & valid
