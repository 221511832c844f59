"""``refrnn.Dataset``: neurogym's ``Dataset``, signature and all, on refrnn's cached trials.

    ds = refrnn.Dataset("yang19", batch_size=16, seq_len=100)   # was neurogym.Dataset(...)
    inputs, target = ds()    # float32 (100, 16, 33 + 20), int64 (100, 16)
    env = ds.env             # env.new_trial(); env.ob, env.gt (refrnn.tasks.env.TaskEnv)

takes what ``neurogym.Dataset(env, env_kwargs, batch_size, seq_len, max_batch,
batch_first, cache_len)`` takes, with ``env`` a task set ("yang19", "modcog",
"modcog82"), a task name or neurogym id ("go", "yang19.go-v0"), a list of
them, or an env object (refrnn's ``TaskEnv``; neurogym's yang19 envs by their
``spec.id``). Batches come from the HDF5 trial cache that ``refrnn train``
uses (built on first use), streamed by :class:`refrnn.data.stream.StreamSampler`;
``ds.env`` draws fresh trials one at a time. docs/data.md has the
compatibility table. No gym or neurogym import.
"""
from __future__ import annotations

import numpy as np

from .stream import StreamSampler
from ..backends.memory import check_fits
from ..tasks.encoding import check_dt
from ..tasks.env import TaskEnv, resolve_tasks
from ..tasks.registry import DEFAULT_TASK_SET, TASK_SETS, check_dt_fits
from ..tasks.trials import N_CLASSES, N_OBS, RING, check_int

#: env_kwargs refrnn can honour; anything else is refused in one line.
ENV_KWARGS = ("dt", "dim_ring", "sigma", "compat")


# bytes per served step and row besides the inputs (8 * n_in: the block and a
# batch_first copy): observations, labels, gather indices, task ids, weights
BLOCK_STEP_BYTES = 2 * N_OBS * 4 + 6 * 8


def _cache_len(n_in: int, batch_size: int, seq_len: int, cache_len) -> int:
    """neurogym's rule: about 1e5 numbers per row, rounded up to whole windows."""
    if cache_len is None:  # at least one step (then one window) for a huge batch_size
        cache_len = max(1, int(1e5 / (n_in + 1) / batch_size))
    return (1 + check_int("cache_len", cache_len) // seq_len) * seq_len


def _from_object(env):
    """(task names, one_hot, dt, compat) of an env object, or ValueError.

    neurogym's objects are read by their ids only: a yang19 env (``spec.id``)
    or a ScheduleEnvs of them (its ``envs`` and ``env_input``)."""
    if isinstance(env, TaskEnv):
        return env.task_names, env.one_hot, env.dt, env.compat
    def spec_id(e):
        return getattr(getattr(e, "spec", None), "id", None)

    subs = getattr(env, "envs", None) if hasattr(env, "env_input") else None
    if subs and None not in map(spec_id, subs):  # a schedule of registered envs
        one_hot = bool(env.env_input)
    else:  # one registered env (a yang19 task is itself a schedule of its modalities)
        subs, one_hot = [env], False
    ids = [spec_id(e) for e in subs]
    if None in ids:
        raise ValueError(f"env {type(env).__name__} is not a task refrnn knows: pass a task "
                         "name (e.g. 'yang19.go-v0'), a task set or a list of names")
    names, _ = resolve_tasks(ids)
    return names, one_hot, getattr(getattr(env, "unwrapped", env), "dt", 100), None


def _env_kwargs(env_kwargs, dt, compat):
    """(dt, compat, sigma) from neurogym-style ``env_kwargs`` and refrnn's keywords."""
    kw = dict(env_kwargs or {})
    bad = sorted(set(kw) - set(ENV_KWARGS))
    if bad:
        raise ValueError(f"env_kwargs {bad}: refrnn.Dataset cannot set these (it takes "
                         f"{', '.join(ENV_KWARGS)}; task timing and rules are fixed by compat)")
    if kw.get("dim_ring", RING) != RING:
        raise ValueError(f"dim_ring={kw['dim_ring']!r}: refrnn's tasks have rings of "
                         f"{RING} units only")
    for key, given in (("dt", dt), ("compat", compat)):
        if key in kw and given is not None and kw[key] != given:
            raise ValueError(f"{key} given twice: {given!r} and env_kwargs {kw[key]!r}")
    sigma = kw.get("sigma", 1.0)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0:
        raise ValueError(f"sigma must be a number >= 0, got {sigma!r}")
    dt = kw.get("dt", 100 if dt is None else dt)
    return dt, kw.get("compat", compat), float(sigma)


def _cache_set(names) -> str:
    """The smallest task set holding every name (whose cache serves them)."""
    return next(s for s in ("yang19", "modcog82", "modcog") if set(names) <= set(TASK_SETS[s]))


class Dataset:
    """Batches of back-to-back trials, as neurogym's ``Dataset`` serves them.

    Args (neurogym's, in its order):
        env: a task set, task name or id, list of them, or env object (see
            the module docstring). A task set or list appends the rule
            one-hot (33 + n inputs, as ``ScheduleEnvs(env_input=True)``); one
            task gives 33 inputs.
        env_kwargs: dict of ``dt`` (ms), ``dim_ring`` (16 only), ``sigma``
            (input-noise scale, std sigma/sqrt(dt); 1.0 as neurogym) and
            ``compat`` (the trial rule set: None, "modcog-2023" or
            "neurogym-2.3"); any other key raises ValueError.
        batch_size: B, independent streams. seq_len: T of each batch
            (1000 when None, as neurogym).
        max_batch: iteration stops after this many batches (None or inf: never).
        batch_first: return (B, T, ...) instead of (T, B, ...).
        cache_len: steps generated per stream at once (neurogym's rule when
            None: int(1e5 / (n_inputs + 1) / B) rounded up to a multiple of
            T); batches are consecutive windows of it, so a trial cut at a
            window's end continues in the next batch; a trial cut at the
            cache's end is dropped.
    refrnn's keywords: ``tasks`` (a subset of a task set, in this one-hot
    order), ``compat``, ``dt``, ``seed`` (seeds the schedule, trial choice,
    input noise and ``env``; None, the default as in neurogym, draws fresh
    OS entropy, kept in ``ds.seed_value``: every refrnn command passes its
    own seed), ``noise`` (False: no input noise), ``trials_per_task``,
    ``eval_trials``, ``cache_seed``, ``cache_path`` (the trial cache: the same
    settings give the same file as ``refrnn train``), ``split`` ("train" or
    "test"), ``task_set`` (the old name of ``env``).
    Attributes: ``env`` (a :class:`refrnn.tasks.env.TaskEnv` of the same
    tasks, dt and rules), ``inputs_shape`` and ``target_shape`` (lists, as
    neurogym), ``task_names`` (one-hot order), ``n_inputs``, ``n_outputs`` (17).
    """

    def __init__(self, env=DEFAULT_TASK_SET, env_kwargs=None, batch_size=1, seq_len=None,
                 max_batch=None, batch_first=False, cache_len=None, *, tasks=None,
                 compat=None, dt=None, seed=None, noise=True, trials_per_task=1000,
                 eval_trials=100, cache_seed=0, cache_path=None, split="train",
                 task_set=None):
        from . import cache  # h5py: the in-memory data path imports without it

        if task_set is not None:
            env = task_set
        if isinstance(env, (str, list, tuple)):
            names, one_hot = resolve_tasks(env)
        else:
            names, one_hot, obj_dt, obj_compat = _from_object(env)
            dt = obj_dt if dt is None else dt
            compat = obj_compat if compat is None else compat
        dt, compat, sigma = _env_kwargs(env_kwargs, dt, compat)
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if tasks is not None:
            if not (isinstance(env, str) and env in TASK_SETS):
                raise ValueError("tasks= picks a subset of a task set: pass env as a task set "
                                 "(or pass the task list as env)")
            tasks = [tasks] if isinstance(tasks, str) else list(tasks)
            unknown = [t for t in tasks if t not in names]
            if unknown or not tasks or len(set(tasks)) != len(tasks):
                raise ValueError(f"tasks must be distinct names of {env!r}; "
                                 f"bad: {unknown or tasks}")
            names = tasks
        self.task_names = list(names)
        self.one_hot = one_hot
        self.batch_first = bool(batch_first)
        self.max_batch = None if max_batch is None or max_batch == np.inf \
            else check_int("max_batch", max_batch, 0)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seq_len = check_int("seq_len", 1000 if seq_len is None else seq_len, 1)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        self.seed_value = check_int("seed", seed, 0)
        # the same cache settings, hence the same file, as a training run's
        cache_set = env if isinstance(env, str) and env in TASK_SETS \
            else _cache_set(self.task_names)
        check_dt_fits(cache_set, check_dt(dt), compat)  # the CLI's rule: dt divides the periods
        self.cache_len = _cache_len(self.n_inputs, self.batch_size, self.seq_len, cache_len)
        # one estimate before any allocation: a served block is (cache_len, batch_size) steps
        check_fits({"one block of served batches": self.batch_size * self.cache_len
                    * (8 * self.n_inputs + BLOCK_STEP_BYTES)},
                   f"a Dataset of batch_size {self.batch_size} x {self.cache_len} steps",
                   "lower batch_size or seq_len")
        train, test, _ = cache.load_trials(
            cache_set, trials_per_task, cache_seed, path=cache_path,
            eval_trials=eval_trials, compat=compat, dt=dt)
        self._cache_len = self.cache_len  # neurogym's name
        self.env = TaskEnv(self.task_names, dt=dt, compat=compat, noise=noise, sigma=sigma,
                           one_hot=one_hot, seed=self.seed_value)
        self.dt = self.env.dt
        # the sampler draws cache_len steps per row; batches are windows of them
        self._sampler = StreamSampler(
            train if split == "train" else test, self.task_names, self.batch_size,
            self.cache_len, seed=self.seed_value,
            noise_std=sigma / np.sqrt(dt) if noise else 0.0)
        self._x = self._y = None
        self._pos = self.cache_len
        self._i_batch = 0
        shape = [self.batch_size, self.seq_len] if self.batch_first \
            else [self.seq_len, self.batch_size]
        self.inputs_shape = shape + [self.n_inputs]
        self.target_shape = list(shape)

    @property
    def n_inputs(self) -> int:
        return N_OBS + (len(self.task_names) if self.one_hot else 0)

    @property
    def n_outputs(self) -> int:
        return N_CLASSES

    def seed(self, seed=None) -> None:
        """Restart the stream (and ``env``) from ``seed``, as a new Dataset
        with that seed would serve it; None draws fresh OS entropy."""
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        self.seed_value = check_int("seed", seed, 0)
        state = self._sampler.get_state()
        bit_generator = getattr(np.random, state["rng"]["bit_generator"])(self.seed_value)
        state.update(rng=_plain(bit_generator.state), served=0,
                     last_task=[-1] * self.batch_size)
        self._sampler.set_state(state)
        self.env.seed(self.seed_value)
        self._pos = self.cache_len

    def _refill(self, kwargs):
        """A fresh cache of cache_len steps per row: from the trial cache, or,
        when ``kwargs`` fix trial parameters, trial by trial from ``env``."""
        if not kwargs:
            b = self._sampler.next()
            x = b.x if self.one_hot else b.x[..., :N_OBS]
            self._x, self._y = x, b.labels
        else:
            L, B = self.cache_len, self.batch_size
            self._x = np.zeros((L, B, self.n_inputs), dtype=np.float32)
            self._y = np.zeros((L, B), dtype=np.int64)
            for b in range(B):
                t = 0
                while t < L:
                    self.env.new_trial(**kwargs)
                    n = min(len(self.env.gt), L - t)
                    self._x[t:t + n, b], self._y[t:t + n, b] = self.env.ob[:n], self.env.gt[:n]
                    t += n
        self._pos = 0

    def __call__(self, **kwargs):
        """(inputs float32 (T, B, n_inputs), target int64 (T, B)); batch-major if
        batch_first. ``kwargs`` (as neurogym) are passed to ``env.new_trial``
        for every trial of a fresh cache, drawn now."""
        if kwargs or self._pos + self.seq_len > self.cache_len:
            self._refill(kwargs)
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


def _plain(state):
    """A bit generator's state with its arrays as lists of ints (JSON-like)."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return [int(v) for v in state]
    return state
