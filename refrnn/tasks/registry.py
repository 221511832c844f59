"""Named tasks and task sets, in a stable order (the order of the one-hot task input).

Task sets:

- ``yang19``: the 20 base tasks of Yang et al. 2019, in BASE_TASKS order.
- ``modcog82``: the Mod-Cog README list, duplicates removed: the 20 base
  tasks, then ``<t>intr, <t>intl`` for each of the 11 delay tasks, then
  ``<b>seqr`` for the 20 base tasks, then ``<b>seql`` (82 tasks).
- ``modcog``: ``modcog82`` followed by ``<t>intrseqr, <t>intrseql,
  <t>intlseqr, <t>intlseql`` for each delay task (126 distinct tasks).

A name is a base name, then optionally ``intr``/``intl`` (interval rule,
integrate = +1/-1; delay tasks only), then optionally ``seqr``/``seql``
(sequence rule, seq = +1/-1).
"""
from __future__ import annotations

import difflib
import math

from .base import Task
from .dm import DMTask
from .dms import DelayMatchTask
from .encoding import NEUROGYM, check_compat, check_dt
from .go import GoTask
from .trials import N_CLASSES, N_OBS, TrialBatch

GO_TASKS = ("go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti")
DM_TASKS = ("dm1", "dm2", "ctxdm1", "ctxdm2", "multidm",
            "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm")
DMS_TASKS = ("dms", "dnms", "dmc", "dnmc")
BASE_TASKS = GO_TASKS + DM_TASKS + DMS_TASKS
#: The tasks with a delay period, which take the interval rule.
DELAY_TASKS = ("dlygo", "dlyanti", "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2",
               "multidlydm", "dms", "dnms", "dmc", "dnmc")
INT_SUFFIXES = (("intr", 1), ("intl", -1))
SEQ_SUFFIXES = (("seqr", 1), ("seql", -1))


def _build_specs():
    specs = {b: (b, 0, 0) for b in BASE_TASKS}
    for b in DELAY_TASKS:
        for si, i in INT_SUFFIXES:
            specs[b + si] = (b, i, 0)
    for ss, s in SEQ_SUFFIXES:
        for b in BASE_TASKS:
            specs[b + ss] = (b, 0, s)
    n82 = list(specs)
    for b in DELAY_TASKS:
        for si, i in INT_SUFFIXES:
            for ss, s in SEQ_SUFFIXES:
                specs[b + si + ss] = (b, i, s)
    return specs, n82


_SPECS, _MODCOG82 = _build_specs()
TASK_SETS = {
    "yang19": tuple(BASE_TASKS),
    "modcog": tuple(_SPECS),
    "modcog82": tuple(_MODCOG82),
}
#: The task set every command, TrainConfig and Dataset default to.
DEFAULT_TASK_SET = "yang19"


def _unknown(kind, name, choices):
    close = difflib.get_close_matches(str(name), list(choices), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} (see `refrnn tasks`)")


def task_names(task_set: str) -> list:
    """The task names of ``task_set`` ("yang19", "modcog" or "modcog82"), in
    one-hot order. Unknown names raise ValueError listing close matches."""
    if task_set not in TASK_SETS:
        raise _unknown("task set", task_set, TASK_SETS)
    return list(TASK_SETS[task_set])


def parse_name(name: str):
    """(base, integrate, seq) of a task name; ValueError for unknown names."""
    if name not in _SPECS:
        raise _unknown("task", name, _SPECS)
    return _SPECS[name]


def get_task(name: str, dt=100, compat=None, seed=0) -> Task:
    """The task ``name`` at step length dt ms.

    Args:
        name: a task name (see the module docstring).
        dt: step length in ms (durations are floored to it).
        compat: None (refrnn rules), "modcog-2023" (the reference's label
            formula and 500 ms delay for go/anti) or "neurogym-2.3"
            (neurogym 2.3.1's yang19 trials; the 20 base tasks only).
        seed: task-set seed; fixes the per-instance delay of the non-interval
            delayed-match tasks (dms, dnms, dmc, dnmc and their seq forms).
    """
    base, integrate, seq = parse_name(name)
    dt = check_dt(dt)
    check_compat(compat)
    if compat == NEUROGYM and (integrate or seq):
        raise ValueError(f"task {name!r} is a Mod-Cog task: compat={NEUROGYM!r} covers "
                         "the 20 yang19 tasks only (neurogym has no Mod-Cog tasks)")
    if base in GO_TASKS:
        return GoTask(name, base, integrate, seq, dt, compat)
    if base in DM_TASKS:
        return DMTask(name, base, integrate, seq, dt, compat)
    return DelayMatchTask(name, base, integrate, seq, dt, compat, seed=seed)


def make_trial(name: str, compat=None, dt=100, **params) -> TrialBatch:
    """One noise-free trial of task ``name`` from explicit parameters.

    ``params`` use the reference trial-dictionary names (ground_truth, theta1,
    theta2, coh1_mod1, ..., sample_theta, test_theta, anti, integrate, seq,
    modality) plus durations in ms named like the periods (e.g. fixation=300).
    Fixed-length periods may be omitted. Returns a TrialBatch of one trial.
    """
    return get_task(name, dt=dt, compat=compat).make_trial(**params)


def task_info(name: str, dt=100, compat=None, seed=0) -> dict:
    """Summary of one task: name, family, base, integrate, seq, n_obs (33),
    n_classes (17), periods (list of (period, tuple of possible ms))."""
    t = get_task(name, dt=dt, compat=compat, seed=seed)
    return {"name": t.name, "family": t.family, "base": t.base, "integrate": t.integrate,
            "seq": t.seq, "n_obs": N_OBS, "n_classes": N_CLASSES,
            "periods": list(t.durations().items())}


def period_grid_ms(task_set: str, compat=None) -> int:
    """The largest step (ms) dividing every fixed period length and every bound
    of a uniformly drawn one in ``task_set`` (100 for yang19 and modcog).

    Random delays of the delayed-match tasks are left out: those are floored
    to dt at any dt, as in the references."""
    grid = 0
    for name in task_names(task_set):
        for spec in get_task(name, compat=compat)._timing().values():
            if spec[0] != "choice":
                for ms in spec[1:]:
                    grid = math.gcd(grid, int(ms))
    return grid


def check_compat_fits(task_set: str, compat) -> None:
    """ValueError when rule set ``compat`` cannot make every task of ``task_set``
    ("neurogym-2.3" covers the 20 yang19 tasks only)."""
    if compat == NEUROGYM and set(task_names(task_set)) - set(BASE_TASKS):
        raise ValueError(f"compat={NEUROGYM!r} covers the 20 yang19 tasks only (neurogym has "
                         f"no Mod-Cog tasks); task set {task_set!r} has Mod-Cog tasks")


def check_dt_fits(task_set: str, dt, compat=None) -> None:
    """ValueError unless ``dt`` divides :func:`period_grid_ms` of ``task_set``.

    Periods are floored to multiples of dt (e.g. 500 ms at dt=30 is 480 ms, a
    different task timing), so refrnn refuses such a dt instead of flooring
    silently; the message lists the allowed values.
    """
    check_compat_fits(task_set, compat)
    grid = period_grid_ms(task_set, compat)
    ok = float(dt).is_integer() and int(dt) > 0 and grid % int(dt) == 0
    if not ok:
        allowed = [d for d in range(1, grid + 1) if grid % d == 0]
        floored = int(500 // float(dt) * float(dt)) if float(dt) > 0 else 0
        raise ValueError(
            f"dt={dt:g} ms does not divide the period lengths of {task_set} (multiples of "
            f"{grid} ms): each would be floored to a multiple of dt (500 ms -> {floored} ms), "
            f"changing the tasks; use one of {', '.join(map(str, allowed))}")
