"""Whole-trial batches (evaluation): trials of one task, padded to the longest.

    trial_batch(trials, task_index, n_tasks, idx) -> (Batch, decision_start, lengths)
    one_hot_inputs(bk, obs, task, n_tasks, valid) -> x (T, B, 33 + n_tasks)

The observations are gathered (with input noise when asked) as a stream
batch's are (:func:`refrnn.data.stream.gather_noisy_obs`).
"""
from __future__ import annotations

import numpy as np

from ..backends.backend import get_backend
from .compact import CompactTrials, compact_trials
from .stream import Batch, check_noise_std, gather_noisy_obs
from ..tasks.trials import N_OBS, TrialBatch, check_int


def one_hot_inputs(bk, obs, task, n_tasks, valid=None):
    """x (T, B, 33 + n_tasks): obs plus the one-hot of ``task`` (host (T, B)).

    Steps where ``valid`` (host bool (T, B)) is False get no one-hot.
    """
    T, B = task.shape
    width = N_OBS + n_tasks
    x = bk.xp.zeros((T, B, width), dtype=np.float32)
    x[..., :N_OBS] = obs
    hot = np.arange(0, T * B * width, width) + N_OBS + task.ravel()  # flat positions
    if valid is not None:
        hot = hot[valid.ravel()]
    x.reshape(-1)[bk.asarray(hot)] = 1.0
    return x


def trial_batch(trials: TrialBatch, task_index, n_tasks, idx, backend=None,
                noise_std=0.0, rng=None):
    """Whole trials ``idx`` of one task, padded to the longest.

    Args:
        trials: CompactTrials (or TrialBatch) of the task; task_index: its one-hot index;
        n_tasks: one-hot width; idx: (B,) trial indices;
        noise_std, rng: input noise (rng a NumPy Generator or seed; required
        when noise_std > 0).
    Returns (Batch, decision_start (B,), lengths (B,)): the Batch has
    T = max length, zero x, label 0, weight 0 and task id -1 on padding;
    decision_start and lengths are host int64 arrays.
    """
    bk = get_backend(backend or "cpu")
    n_tasks = check_int("n_tasks", n_tasks, 1)
    task_index = check_int("task_index", task_index, 0)
    if task_index >= n_tasks:
        raise ValueError(f"task_index {task_index} >= n_tasks {n_tasks}")
    idx = np.asarray(idx)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(f"idx must be a non-empty 1-D integer array, got {idx!r}")
    if idx.min() < 0 or idx.max() >= trials.n_trials:
        raise ValueError(f"idx out of range 0..{trials.n_trials - 1}")
    std = check_noise_std(noise_std)
    if std > 0 and rng is None:
        raise ValueError("rng is required when noise_std > 0")
    rng = np.random.default_rng(rng) if std > 0 else None
    if not isinstance(trials, CompactTrials):
        trials = compact_trials({"": trials})[""]
    table = trials.table
    lengths = trials.lengths[idx].astype(np.int64)
    T = int(lengths.max())
    t = np.arange(T)[:, None]
    valid = t < lengths[None, :]                                  # (T, B)
    # padding repeats the task's first step (then zeroed), as a dense gather would
    rows = table.steps[trials.start + np.where(valid, trials.offsets[idx][None, :] + t, 0)]
    codes = np.where(valid, table.noise[rows], 0).astype(np.uint8)
    host = get_backend("cpu")  # gather on the host: only this batch travels
    obs = gather_noisy_obs(host, table.obs, rows, codes, std, rng)
    obs *= valid[..., None]
    obs = bk.asarray(obs)
    x = one_hot_inputs(bk, obs, np.full(valid.shape, task_index), n_tasks, valid)
    labels = np.where(valid, table.labels[rows], 0).astype(np.int64)
    batch = Batch(x, bk.asarray(labels), bk.asarray(valid, np.float32),
                  bk.asarray(np.where(valid, task_index, -1).astype(np.int64)))
    return batch, trials.decision_start[idx].astype(np.int64), lengths
