"""``refrnn.Dataset``: neurogym's ``Dataset`` call shape on refrnn's cached trials.

    ds = refrnn.Dataset("modcog", batch_size=64, seq_len=350)
    inputs, target = ds()    # float32 (350, 64, 33 + 126), int64 (350, 64)

stands in for ``neurogym.Dataset(ScheduleEnvs(envs, RandomSchedule(n),
env_input=True), batch_size=64, seq_len=350)`` over the same tasks. Trials
come from the HDF5 trial cache that ``refrnn train`` uses (built on first use)
and are streamed by :class:`refrnn.data.stream.StreamSampler`; docs/data.md gives the
correspondence unit by unit. No neurogym needed.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .stream import StreamSampler, check_int
from ..backends.memory import check_fits
from ..tasks.encoding import check_dt
from ..tasks.registry import DEFAULT_TASK_SET, TASK_SETS, check_dt_fits, task_names
from ..tasks.trials import N_CLASSES, N_OBS, input_noise_std


# bytes per served step and row besides the inputs (8 * n_in: the block and a
# batch_first copy): observations, labels, gather indices, task ids, weights
BLOCK_STEP_BYTES = 2 * N_OBS * 4 + 6 * 8


def _cache_len(n_in: int, batch_size: int, seq_len: int, cache_len) -> int:
    """neurogym's rule: about 1e5 numbers per row, rounded up to whole windows."""
    if cache_len is None:  # at least one step (then one window) for a huge batch_size
        cache_len = max(1, int(1e5 / (n_in + 1) / batch_size))
    if isinstance(cache_len, bool) or not isinstance(cache_len, (int, np.integer)) \
            or cache_len < 1:
        raise ValueError(f"cache_len must be a positive integer, got {cache_len!r}")
    return (1 + int(cache_len) // seq_len) * seq_len


class Dataset:
    """Batches of back-to-back trials, as neurogym's ``Dataset`` serves them.

    Args:
        task_set: "yang19" (the default), "modcog" or "modcog82".
        batch_size: B, independent streams.
        seq_len: T of each batch (neurogym's default 1000 when None).
        tasks: optional list of task names of ``task_set``: serve only those,
            with the rule one-hot in this order (input size 33 + len(tasks)).
        batch_first: return (B, T, ...) instead of (T, B, ...).
        cache_len: steps generated per stream at once (neurogym's rule when
            None: int(1e5 / (n_in + 1) / B) rounded up to a multiple of T);
            successive batches are consecutive windows of it, so a trial cut
            at a window's end continues in the next batch; a trial cut at
            the cache's end is dropped.
        max_batch: iteration stops after this many batches (default: never).
        compat, dt: task-set options (see docs/tasks.md).
        seed: seeds the task schedule, trial choice and input noise.
        noise: input noise N(0, input_noise_std(dt)^2) as neurogym adds it.
        trials_per_task, eval_trials, cache_seed, cache_path: the trial cache
            (the same settings give the same file as ``refrnn train``).
        split: serve the cache's "train" (default) or "test" trials.
    Attributes: task_names (one-hot order), n_inputs, n_outputs (17), and
    ``env`` with ``observation_space.shape`` and ``action_space.n`` for code
    written against neurogym.
    """

    def __init__(self, task_set=DEFAULT_TASK_SET, batch_size=1, seq_len=None, *, tasks=None,
                 batch_first=False, cache_len=None, max_batch=None, compat=None, dt=100,
                 seed=0, noise=True, trials_per_task=1000, eval_trials=100, cache_seed=0,
                 cache_path=None, split="train"):
        from . import cache  # h5py: the in-memory data path imports without it

        seq_len = 1000 if seq_len is None else seq_len
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if task_set not in TASK_SETS:
            raise ValueError(f"task_set must be one of {', '.join(TASK_SETS)}, got {task_set!r}")
        check_dt_fits(task_set, check_dt(dt), compat)  # the CLI's rule: dt divides the periods
        # one estimate before any allocation: a served block is (cache_len, batch_size) steps
        n_in = N_OBS + len(task_names(task_set))
        rows = check_int("batch_size", batch_size, 1)
        steps = _cache_len(n_in, rows, check_int("seq_len", seq_len, 1), cache_len)
        check_fits({"one block of served batches": rows * steps * (8 * n_in + BLOCK_STEP_BYTES)},
                   f"a Dataset of batch_size {rows} x {steps} steps", "lower batch_size or seq_len")
        # the same cache settings, hence the same file, as a training run's
        train, test, names = cache.load_trials(
            task_set, trials_per_task, cache_seed, path=cache_path,
            test_trials_per_task=eval_trials, compat=compat, dt=dt)
        if tasks is not None:
            tasks = [tasks] if isinstance(tasks, str) else list(tasks)
            unknown = [t for t in tasks if t not in names]
            if unknown or not tasks or len(set(tasks)) != len(tasks):
                raise ValueError(f"tasks must be distinct names of {task_set!r}; "
                                 f"bad: {unknown or tasks}")
            names = tasks
        self.task_names = list(names)
        self.batch_first = bool(batch_first)
        self.max_batch = None if max_batch is None else check_int("max_batch", max_batch, 0)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seq_len = check_int("seq_len", seq_len, 1)
        self.cache_len = _cache_len(self.n_inputs, self.batch_size, self.seq_len, cache_len)
        # the sampler draws cache_len steps per row; batches are windows of them
        self._sampler = StreamSampler(
            train if split == "train" else test, self.task_names, self.batch_size,
            self.cache_len, seed=seed, noise_std=input_noise_std(dt) if noise else 0.0)
        self._x = self._y = None
        self._pos = self.cache_len
        self._i_batch = 0
        self.env = SimpleNamespace(
            observation_space=SimpleNamespace(shape=(self.n_inputs,), dtype=np.float32),
            action_space=SimpleNamespace(n=N_CLASSES, shape=(), dtype=np.int64))

    @property
    def n_inputs(self) -> int:
        return N_OBS + len(self.task_names)

    @property
    def n_outputs(self) -> int:
        return N_CLASSES

    def __call__(self):
        """(inputs float32 (T, B, n_inputs), target int64 (T, B)); batch-major if batch_first."""
        if self._pos + self.seq_len > self.cache_len:
            b = self._sampler.next()
            self._x, self._y, self._pos = b.x, b.labels, 0
        x = self._x[self._pos:self._pos + self.seq_len]
        y = self._y[self._pos:self._pos + self.seq_len]
        self._pos += self.seq_len
        if self.batch_first:
            return np.ascontiguousarray(x.swapaxes(0, 1)), np.ascontiguousarray(y.T)
        return x, y

    def __iter__(self):
        return self

    def __next__(self):
        self._i_batch += 1
        if self.max_batch is not None and self._i_batch > self.max_batch:
            self._i_batch = 0
            raise StopIteration
        return self()
