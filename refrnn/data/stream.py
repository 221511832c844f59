"""Batches from cached trials: stream windows (training) or whole trials.

Trials are held compact (refrnn.data.compact: each step a row of a small
table of distinct steps), and a batch's dense inputs are rendered when it is
drawn. Both modes prepare index arrays on the host with NumPy (a few small
integer arrays per batch: the table rows of the batch's steps), draw input
noise on the host from a NumPy Generator (so a batch is bit-identical on
every backend and resumable from a JSON state), and gather observations from
the table on the backend: on CUDA the table lives on the GPU and each batch
costs one small index/noise transfer, never a per-step trip.

Input layout: x[..., :33] observations (+ noise), x[..., 33 + k] = 1 for the
task k of that step (one-hot in ``task_names`` order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.backend import get_backend
from .batch import InputBuffer, gather_noisy_obs, one_hot_inputs
from .compact import CompactTrials, compact_trials
from ..tasks.trials import N_OBS, TrialBatch, check_int


@dataclass
class Batch:
    """One batch, time-major, backend arrays.

    x        float32 (T, B, 33 + n_tasks)  inputs
    labels   int64   (T, B)                target class per step
    weights  float32 (T, B)                per-step loss weight (0 on padding)
    task_ids int64   (T, B)                task index per step (-1 on padding)
    """

    x: object
    labels: object
    weights: object
    task_ids: object


def _new_rng(seed) -> np.random.Generator:
    # SFC64: its normals were about 25% faster than PCG64's here
    return np.random.Generator(np.random.SFC64(seed))


def _check_std(noise_std):
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be finite and >= 0, got {noise_std!r}")
    return float(noise_std)


class StreamSampler:
    """Stream batches as neurogym's Dataset over a random task schedule.

    Each batch row is an independent stream: the task of each trial is drawn
    uniformly among the tasks other than the previous trial's (any task for a
    row's first trial; with one task it repeats), the trial uniformly among
    that task's trials; whole trials are concatenated and cut at ``seq_len``.
    The cut trial is dropped, so every batch row starts at a trial onset; the
    no-repeat rule carries across batches.  Fresh input noise per serve.

    With ``reuse_x`` (the training loop's choice), ``x`` of a served batch is
    a buffer the sampler owns, as in neurogym's Dataset: the next ``next()``
    overwrites it, which saves allocating and clearing (T, B, 33 + n_tasks)
    floats a batch. Otherwise every batch has its own x.

    Args:
        trials: dict task name -> CompactTrials (``TrialCache.split("train")``,
            used in place) or TrialBatch (made compact here).
        task_names: list of tasks to sample, in one-hot order.
        batch_size, seq_len: B and T of each batch.
        seed: int seed of the sampler's NumPy Generator (SFC64).
        backend: Backend or device name (default CPU).
        noise_std: input-noise std (0.1 at dt = 100 ms; 0 disables).
        reuse_x: render every batch's x into one buffer (see above).
    """

    def __init__(self, trials, task_names, batch_size, seq_len=350, seed=0,
                 backend=None, noise_std=0.1, reuse_x=False):
        self.task_names = list(task_names)
        if not self.task_names:
            raise ValueError("task_names is empty")
        missing = [t for t in self.task_names if t not in trials]
        if missing:
            raise ValueError(f"tasks not in trials: {missing[:5]}")
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seq_len = check_int("seq_len", seq_len, 1)
        self.noise_std = _check_std(noise_std)
        self.seed = check_int("seed", seed, 0)
        self.backend = get_backend(backend or "cpu")
        tbs = list(compact_trials({t: trials[t] for t in self.task_names}).values())
        for t, tb in zip(self.task_names, tbs):
            if tb.n_trials < 1 or tb.lengths.min() < 1:
                raise ValueError(f"task {t!r} has no trials or an empty trial")
        n = np.array([tb.n_trials for tb in tbs], dtype=np.int64)
        self._n_trials = n
        self._task_base = np.concatenate([[0], np.cumsum(n)[:-1]])
        table = tbs[0].table  # every task's steps are rows of table.steps
        self._starts = np.concatenate([tb.offsets[:-1] + tb.start for tb in tbs])
        self._lengths = np.concatenate([tb.lengths for tb in tbs])
        self._steps, self._noise = table.steps, table.noise
        bk = self.backend
        self._obs = bk.asarray(table.obs, np.float32)        # (R, 33): the distinct steps
        self._labels = bk.asarray(table.labels, np.int64)
        self._x_shape = (self.seq_len, self.batch_size, N_OBS + len(self.task_names))
        self._x = InputBuffer(bk, self._x_shape) if reuse_x else None
        # enough trials per row that even the shortest fill seq_len
        self._draws = -(-self.seq_len // int(self._lengths.min()))
        self._rng = _new_rng(self.seed)
        self._last = np.full(self.batch_size, -1, dtype=np.int64)
        self.served = 0
        self.n_steps = int(self._lengths.sum())  # fingerprint of the trials, in states

    def _schedule(self):
        """Draw (B, M) task and trial indices for the next batch."""
        B, M, K = self.batch_size, self._draws, len(self.task_names)
        first = self._rng.integers(0, K, size=B)
        step = 1 + self._rng.integers(0, max(K - 1, 1), size=(B, M)) if K > 1 \
            else np.zeros((B, M), dtype=np.int64)
        k0 = np.where(self._last < 0, first, (self._last + step[:, 0]) % K)
        step[:, 0] = 0
        tasks = (k0[:, None] + np.cumsum(step, axis=1)) % K
        trial = self._rng.integers(0, self._n_trials[tasks])
        return tasks, self._task_base[tasks] + trial

    def next(self) -> Batch:
        """Serve the next batch (see class docstring); shapes (T, B, ...)."""
        B, T, bk = self.batch_size, self.seq_len, self.backend
        tasks, g = self._schedule()
        length = self._lengths[g]                        # (B, M)
        pos = np.cumsum(length, axis=1) - length         # onset of each trial in its row
        kept = np.clip(T - pos, 0, length)               # steps of each trial inside the window
        self._last = tasks[np.arange(B), (pos < T).sum(axis=1) - 1]
        kept = kept.ravel()
        out_pos = pos + np.arange(B)[:, None] * T        # onset in the flat (B*T) output
        shift = np.repeat((self._starts[g] - out_pos).ravel(), kept)
        src = (np.arange(B * T) + shift).reshape(B, T)   # (B, T) steps in table.steps
        rows = np.ascontiguousarray(self._steps[src].T)   # (T, B) their table rows
        task_tb = np.repeat(tasks.ravel(), kept).reshape(B, T).T

        rows_dev = bk.asarray(rows)
        obs = gather_noisy_obs(bk, self._obs, rows_dev, self._noise[rows], self.noise_std,
                               self._rng)
        x = (self._x or InputBuffer(bk, self._x_shape)).fill(obs, task_tb)
        self.served += 1
        return Batch(x, self._labels[rows_dev],
                     bk.xp.ones((T, B), dtype=np.float32),
                     bk.asarray(np.ascontiguousarray(task_tb)))

    __next__ = next

    def __iter__(self):
        return self

    def get_state(self) -> dict:
        """JSON-serialisable state; ``set_state`` resumes bit-exactly."""
        rng = self._rng.bit_generator.state
        rng["state"] = {"state": [int(v) for v in rng["state"]["state"]]}
        return {"version": 1, "rng": rng,
                "last_task": self._last.tolist(), "served": self.served,
                "batch_size": self.batch_size, "seq_len": self.seq_len,
                "task_names": self.task_names, "n_steps": self.n_steps}

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` of a sampler of the same setup."""
        for k in ("batch_size", "seq_len", "task_names", "n_steps"):
            if state.get(k) != getattr(self, k):
                raise ValueError(f"sampler state has {k}={state.get(k)!r}, "
                                 f"this sampler {getattr(self, k)!r}")
        if state.get("version") != 1:
            raise ValueError(f"unknown sampler state version {state.get('version')!r}")
        rng = _new_rng(0)
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"sampler state has a bad rng entry ({e})") from None
        self._rng = rng
        self._last = np.asarray(state["last_task"], dtype=np.int64)
        self.served = int(state["served"])


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
    std = _check_std(noise_std)
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
