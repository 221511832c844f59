"""Training batches from cached trials: stream windows, rendered with input noise.

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

    StreamSampler(trials, names, B, T, seed).next() -> Batch   a training batch
    gather_noisy_obs(...)   the observations of a batch's steps, with input noise
    InputBuffer             x rendered into one reused buffer
    normal_f32(rng, k)      the input noise's standard normals

Whole trials (evaluation) are :mod:`refrnn.data.whole_trials`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.backend import get_backend
from ..backends.noise import box_muller
from .compact import compact_trials
from ..tasks.trials import N_OBS, NOISE_UNITS, check_int


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


def normal_f32(rng: np.random.Generator, k: int) -> np.ndarray:
    """(k,) float32 standard normals by the Box-Muller transform.

    About 4x faster here than ``rng.standard_normal(k, dtype=float32)``
    (a batch needs ~2e5 draws).  Uniforms have 24-bit resolution, so |z| is
    capped at sqrt(48 ln 2) = 5.77: irrelevant for input noise.
    """
    h = (k + 1) // 2
    z = box_muller(rng.random((2, h), dtype=np.float32), np.empty((2, h), dtype=np.float32))
    return z.reshape(-1)[:k]


def _code_columns():
    """Per noise code > 0: the noised units as a slice (contiguous) or index array."""
    cols = {}
    for c in range(1, NOISE_UNITS.shape[0]):
        u = np.flatnonzero(NOISE_UNITS[c])
        contiguous = u.size and u[-1] - u[0] + 1 == u.size
        cols[c] = slice(int(u[0]), int(u[-1]) + 1) if contiguous else u
    return cols


_CODE_COLUMNS = _code_columns()


def gather_noisy_obs(bk, obs_dev, src_dev, codes, std, rng):
    """Gather obs rows ``src_dev`` (backend int array, shape I), add input noise.

    ``obs_dev`` (R, 33) is a table of observations (TrialTable.obs) and
    ``src_dev`` the table rows of the steps wanted.
    ``codes`` (host uint8, shape I) are the noise codes of those rows; the
    units NOISE_UNITS[code] of each row get independent N(0, std^2) noise.  Draws are made on the
    host (the same numbers on every backend) and sent once; rows are handled
    code by code, which is much cheaper than a (..., 33) boolean mask.
    Returns a backend float32 array of shape I + (33,).
    """
    g = bk.xp.take(obs_dev, src_dev, axis=0)
    if std > 0:
        flat = codes.reshape(-1)
        rows = {c: np.flatnonzero(flat == c) for c in _CODE_COLUMNS}
        sizes = [rows[c].size * int(NOISE_UNITS[c].sum()) for c in _CODE_COLUMNS]
        draws = normal_f32(rng, sum(sizes))
        draws *= np.float32(std)
        draws = bk.asarray(draws)
        g2 = g.reshape(-1, N_OBS)
        start = 0
        for (c, cols), size in zip(_CODE_COLUMNS.items(), sizes):
            if size:
                r = bk.asarray(rows[c])
                z = draws[start:start + size].reshape(rows[c].size, -1)
                if isinstance(cols, slice):
                    g2[r, cols] += z
                else:
                    g2[r[:, None], bk.asarray(cols)[None, :]] += z
                start += size
    return g


class InputBuffer:
    """Stream batches' inputs x (T, B, 33 + n_tasks), rendered into one buffer.

    ``fill`` rewrites the observation units and moves the one-hot units from
    the previous batch's tasks to this one's, so a batch costs no allocation
    and no zeroing of the (T, B, n_tasks) block; the previous x is overwritten.
    """

    def __init__(self, bk, shape):
        self.bk = bk
        self.x = bk.xp.zeros(shape, dtype=np.float32)
        self._hot = None  # backend flat positions of the ones now in x

    def fill(self, obs, task):
        """x with x[..., :33] = obs (backend (T*B, 33) or (T, B, 33)) and
        x[t, b, 33 + task[t, b]] = 1 (host int (T, B)), every other unit 0."""
        x = self.x
        T, B, width = x.shape
        x[..., :N_OBS] = obs.reshape(T, B, N_OBS)
        flat = x.reshape(-1)
        if self._hot is not None:
            flat[self._hot] = 0.0
        self._hot = self.bk.asarray(np.arange(0, T * B * width, width) + N_OBS + task.ravel())
        flat[self._hot] = 1.0
        return x


def _new_rng(seed) -> np.random.Generator:
    # SFC64: its normals were about 25% faster than PCG64's here
    return np.random.Generator(np.random.SFC64(seed))


def check_noise_std(noise_std) -> float:
    """``noise_std`` as a float; ValueError unless finite and >= 0."""
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
        self.noise_std = check_noise_std(noise_std)
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
