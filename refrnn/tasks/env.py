"""``TaskEnv``: neurogym's trial-by-trial environment, on refrnn's task generators.

    env = TaskEnv(["go", "dm1", "dms"], seed=0)     # or TaskEnv("yang19"), TaskEnv("go")
    trial = env.new_trial()          # dict of the trial's parameters
    env.ob, env.gt                   # float32 (T, 33 + 3), int64 (T,)
    env.envs[1].new_trial(); env.envs[1].ob    # one task alone: (T, 33)

It answers what neurogym's supervised-learning examples call on a
``TrialEnv`` or on ``ScheduleEnvs(envs, RandomSchedule(n), env_input=True)``:
``new_trial(**kwargs)``, ``ob``, ``gt``, ``trial``, ``dt``, ``envs``,
``observation_space`` / ``action_space`` (with ``shape``, ``n``, ``name``,
``sample()``), ``timing``, ``spec.id``, ``seed()``, ``unwrapped``. Each trial
is drawn fresh (not from a cache), with input noise baked into ``ob`` as
neurogym does. There is no ``reset``/``step`` (the reinforcement-learning
interface). No gym or neurogym import; every draw comes from the env's own
``numpy.random.Generator``.
"""
from __future__ import annotations

import difflib
import re
from types import SimpleNamespace

import numpy as np

from .registry import BASE_TASKS, TASK_SETS, get_task
from .trials import N_CLASSES, N_OBS, NOISE_UNITS, RING, input_noise_std

_NGYM_ID = re.compile(r"^(\w+)\.(\w+)-v(\d+)$")
_DRAWS = 64  # trials drawn per task at once (and candidates per try when kwargs fix some)


def task_id(name: str) -> str:
    """neurogym's registered id of a task: ``yang19.go-v0``; ``modcog.<name>-v0``
    for the Mod-Cog tasks (neurogym has no such ids; refrnn names them so)."""
    return f"{'yang19' if name in BASE_TASKS else 'modcog'}.{name}-v0"


def resolve_tasks(env):
    """(task names, one_hot) of a task set name, a task name or id, or a list.

    A task set ("yang19", "modcog", "modcog82") or a list gives its tasks with
    the rule one-hot appended to the observation (as neurogym's
    ``ScheduleEnvs(..., env_input=True)``); one task name or id (``"go"``,
    ``"yang19.go-v0"``) gives that task alone, 33 inputs, as ``neurogym.make``.
    """
    if isinstance(env, str):
        if env in TASK_SETS:
            return list(TASK_SETS[env]), True
        return [_task_name(env)], False
    if isinstance(env, (list, tuple)) and env and all(isinstance(e, str) for e in env):
        names = [_task_name(e) for e in env]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks must be distinct, got {list(env)}")
        return names, True
    raise ValueError(f"env must be a task set ({', '.join(TASK_SETS)}), a task name or "
                     f"neurogym id (e.g. 'go' or 'yang19.go-v0') or a list of them, "
                     f"got {env!r}")


def _task_name(s: str) -> str:
    m = _NGYM_ID.match(s)
    if m and m.group(1) in TASK_SETS and m.group(2) in TASK_SETS[m.group(1)]:
        return m.group(2)
    all_names = TASK_SETS["modcog"]
    if s in all_names:
        return s
    close = difflib.get_close_matches(s, list(all_names) + list(TASK_SETS), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown task or task set {s!r}{hint}: refrnn has the yang19 and "
                     "Mod-Cog tasks (see `refrnn tasks`)")


class Box:
    """neurogym's observation space: a float32 box of ``shape`` (unbounded)
    with ``name`` mapping unit groups to their indices; ``sample()`` draws a
    standard normal vector (as gym does for an unbounded box)."""

    def __init__(self, shape, name, rng):
        self.shape, self.name, self.dtype = tuple(shape), name, np.dtype(np.float32)
        self.low, self.high = -np.inf, np.inf
        self._rng = rng

    def sample(self) -> np.ndarray:
        return self._rng.standard_normal(self.shape).astype(np.float32)

    def contains(self, x) -> bool:
        return np.shape(x) == self.shape

    def seed(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def __repr__(self):
        return f"Box(-inf, inf, {self.shape}, float32)"


class Discrete:
    """neurogym's action space: ``n`` classes (0 = fixate, k = ring unit k-1)."""

    def __init__(self, n, name, rng):
        self.n, self.name, self.shape, self.dtype = int(n), name, (), np.dtype(np.int64)
        self.start = 0
        self._rng = rng

    def sample(self) -> int:
        return int(self._rng.integers(self.n))

    def contains(self, x) -> bool:
        return isinstance(x, (int, np.integer)) and 0 <= x < self.n

    def seed(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def __repr__(self):
        return f"Discrete({self.n})"


class TaskEnv:
    """Trials one at a time, as a neurogym ``TrialEnv`` (one task) or
    ``ScheduleEnvs`` with ``RandomSchedule`` and ``env_input=True`` (several).

    Args:
        tasks: see :func:`resolve_tasks` (a task set, a name or id, a list).
        dt: step length, ms. compat: trial rule set (None, "modcog-2023",
            "neurogym-2.3"; docs/tasks.md). task_seed: the task-set seed.
        seed: seeds the env's Generator; None draws fresh entropy from the
            OS (as neurogym); refrnn's commands always pass a seed.
        noise: add input noise to ``ob`` as neurogym does, std sigma/sqrt(dt)
            (sigma 1.0: neurogym's default).
        one_hot: append the rule one-hot (default: as :func:`resolve_tasks`).
    Attributes after ``new_trial()``: ``ob`` float32 (T, n_inputs), ``gt``
    int64 (T,), ``trial`` (dict), ``task`` (its name), ``i_env`` (its index).
    """

    def __init__(self, tasks="yang19", dt=100, compat=None, seed=None, noise=True,
                 one_hot=None, task_seed=0, sigma=1.0):
        names, auto = resolve_tasks(tasks)
        self.task_names = names
        self.one_hot = auto if one_hot is None else bool(one_hot)
        self._tasks = [get_task(n, dt=dt, compat=compat, seed=task_seed) for n in names]
        self.dt, self.compat, self.noise = self._tasks[0].dt, compat, bool(noise)
        self.noise_std = float(sigma) * input_noise_std(self.dt)
        self.n_inputs = N_OBS + (len(names) if self.one_hot else 0)
        ob_name = {"fixation": 0, "stimulus_mod1": range(1, 1 + RING),
                   "stimulus_mod2": range(1 + RING, 1 + 2 * RING)}
        if self.one_hot:
            ob_name["env"] = range(N_OBS, self.n_inputs)
        self.spec = SimpleNamespace(id=task_id(names[0]) if len(names) == 1 else None)
        self.ob = self.gt = self.trial = self.task = None
        self.observation_space = Box((self.n_inputs,), ob_name, None)
        self.action_space = Discrete(N_CLASSES, {"fixation": 0, "choice": range(1, N_CLASSES)},
                                     None)
        # one env per task (seeded below), as ScheduleEnvs.envs
        self.envs = [TaskEnv(n, dt=dt, compat=compat, seed=0, noise=noise, one_hot=False,
                             task_seed=task_seed, sigma=sigma)
                     for n in names] if len(names) > 1 else []
        self.seed(seed)

    @property
    def unwrapped(self):
        return self

    @property
    def timing(self) -> dict:
        """The current (or first) task's periods in neurogym's notation, ms:
        a number, ("uniform", (lo, hi)) or ("choice", [ms, ...])."""
        spec = self._tasks[max(self.i_env, 0)]._timing()
        return {p: s[1] if s[0] == "fixed" else (s[0], list(s[1]) if s[0] == "choice"
                                                  else (s[1], s[2]))
                for p, s in spec.items()}

    def seed(self, seed=None):
        """Reseed every draw of this env (trials, schedule, noise, spaces);
        None: fresh OS entropy. Returns ``[seed]`` as gym's ``seed`` did."""
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        trial_ss, space_ss, kids_ss = ss.spawn(3)
        self.rng = np.random.default_rng(trial_ss)
        self._blocks = {}
        self.observation_space._rng = self.action_space._rng = np.random.default_rng(space_ss)
        for env, k in zip(self.envs, kids_ss.spawn(len(self.envs))):
            env.seed(k)
        self.i_env = -1
        return [seed]

    def new_trial(self, **kwargs) -> dict:
        """Draw the next trial: its task (uniform over the others than the
        last one's, as RandomSchedule), its parameters and input noise; set
        ``ob``, ``gt``, ``trial``. ``kwargs`` fix trial parameters by their
        reference names (ground_truth, modality, theta1, ..., durations in
        ms); the others are drawn given them. Returns ``trial``."""
        k = len(self._tasks)
        if self.i_env < 0 or k == 1:
            self.i_env = int(self.rng.integers(k))
        else:
            self.i_env = int((self.i_env + 1 + self.rng.integers(k - 1)) % k)
        task = self._tasks[self.i_env]
        if kwargs:
            tb = _draw(task, self.rng, kwargs)
        else:  # the next of a block of trials drawn at once (vectorised: ~30x faster)
            block, j = self._blocks.get(task.name, (None, _DRAWS))
            if j == _DRAWS:
                block, j = task.generate(_DRAWS, self.rng), 0
            self._blocks[task.name] = (block, j + 1)
            tb = block.subset([j])
        obs = tb.obs.astype(np.float32)
        if self.noise:
            units = NOISE_UNITS[tb.noise]                                    # (T, 33) bool
            obs[units] += (self.noise_std
                           * self.rng.standard_normal(int(units.sum()))).astype(np.float32)
        ob = np.zeros((obs.shape[0], self.n_inputs), dtype=np.float32)
        ob[:, :N_OBS] = obs
        if self.one_hot:
            ob[:, N_OBS + self.i_env] = 1.0
        self.ob, self.gt, self.task = ob, tb.labels.astype(np.int64), task.name
        self.trial = _trial_dict(task, tb.params)
        return self.trial


def _draw(task, rng, kwargs):
    """One TrialBatch of ``task`` whose parameters agree with ``kwargs``."""
    periods = {k: v for k, v in kwargs.items() if k in task.period_names}
    fixed = {k: _value(task, k, v) for k, v in kwargs.items() if k not in periods}
    params = None
    for _ in range(64 if fixed else 1):
        cand = task.sample(_DRAWS if fixed else 1, rng)
        ok = np.ones(len(cand[task.period_names[0]]), dtype=bool)
        for k, v in fixed.items():
            if k not in cand:
                raise ValueError(f"task {task.name}: unknown trial parameter {k!r}; "
                                 f"known: {sorted(cand)}")
            ok &= np.isclose(np.asarray(cand[k], dtype=np.float64), v, rtol=0, atol=1e-9)
        if ok.any():
            i = int(np.flatnonzero(ok)[0])
            params = {k: v[i:i + 1] for k, v in cand.items()}
            break
    if params is None:  # values the sampler never draws: make_trial checks them
        kw = {k: v[0] for k, v in task.sample(1, rng).items()}
        if task.family == "dm":
            kw.pop("ground_truth")  # make_trial applies the decision rule
        kw.update(kwargs)
        return task.make_trial(**kw)
    for k, v in periods.items():
        params[k] = np.atleast_1d(np.asarray(v))
    if periods:  # make_trial validates and floors the durations
        return task.make_trial(**{k: v[0] for k, v in params.items()})
    return task.render(params)


def _value(task, key, v):
    if task.family == "dms" and key == "ground_truth" and isinstance(v, str):
        if v not in ("match", "non-match"):
            raise ValueError(f"ground_truth={v!r} must be 'match' or 'non-match'")
        return float(v == "match")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"task {task.name}: {key}={v!r} is not a number") from None


def _trial_dict(task, params) -> dict:
    """The trial's parameters as plain Python values, in neurogym's names
    (delayed-match ``ground_truth`` is "match" / "non-match")."""
    out = {k: np.asarray(v)[0].item() for k, v in params.items()}
    if task.family == "dms":
        out["ground_truth"] = "match" if out["ground_truth"] == 1 else "non-match"
    out["task"] = task.name
    return out


__all__ = ["Box", "Discrete", "TaskEnv", "resolve_tasks", "task_id"]
