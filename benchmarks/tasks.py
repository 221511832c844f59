"""Trial-generation speed on one core: refrnn's task sets, and neurogym's.

    PYTHONPATH=. python benchmarks/tasks.py [--trials-per-task 2000] [--repeats 3]

Prints trials/s and steps/s of ``Task.generate`` (sample + render, noise-free)
over every task of ``yang19`` and ``modcog``, and, when neurogym is importable,
of neurogym's ``new_trial`` for the 20 yang19 tasks (neurogym does not ship
the Mod-Cog tasks; they live in a separate, unpackaged repository).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from refrnn.tasks import get_task, task_names  # noqa: E402


def pin_one_core():
    """Run on one CPU core where the OS allows it; returns the core or None."""
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return core
    except (AttributeError, OSError):
        return None


def bench_refrnn(task_set, n, repeats, seed=0):
    """Best-of-``repeats`` (trials/s, steps/s) generating n trials of each task."""
    tasks = [get_task(name) for name in task_names(task_set)]
    for t in tasks:  # warm-up
        t.generate(8, np.random.default_rng(seed))
    best = None
    for r in range(repeats):
        rng = np.random.default_rng(seed + r)
        steps = 0
        t0 = time.perf_counter()
        for t in tasks:
            steps += t.generate(n, rng).obs.shape[0]
        el = time.perf_counter() - t0
        rate = (len(tasks) * n / el, steps / el)
        best = rate if best is None or rate[0] > best[0] else best
    return best


def bench_neurogym(n, seed=0):
    """(trials/s, steps/s) of neurogym's yang19 new_trial, or None without neurogym."""
    try:
        from neurogym.envs.collections import yang19
    except ImportError:
        return None
    envs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in task_names("yang19"):
            env = getattr(yang19, name)()
            env.seed(seed)
            env.reset()
            envs.append(env)
    steps = 0
    t0 = time.perf_counter()
    for env in envs:
        for _ in range(n):
            env.new_trial()
            steps += env.unwrapped.ob.shape[0]
    el = time.perf_counter() - t0
    return len(envs) * n / el, steps / el


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials-per-task", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--neurogym-trials", type=int, default=200,
                    help="trials per task for the neurogym reference")
    a = ap.parse_args(argv)
    core = pin_one_core()
    print(f"one core ({'cpu ' + str(core) if core is not None else 'not pinned'}), "
          f"numpy {np.__version__}, {a.trials_per_task} trials per task, best of {a.repeats}")
    for task_set in ("yang19", "modcog"):
        tr, st = bench_refrnn(task_set, a.trials_per_task, a.repeats)
        print(f"refrnn   {task_set:<8s} {tr:12,.0f} trials/s {st:14,.0f} steps/s")
    ng = bench_neurogym(a.neurogym_trials)
    if ng is None:
        print("neurogym not importable: reference speed skipped")
    else:
        print(f"neurogym {'yang19':<8s} {ng[0]:12,.0f} trials/s {ng[1]:14,.0f} steps/s")
        print(f"neurogym {'modcog':<8s} {'n/a':>12s} (Mod-Cog tasks are not part of neurogym)")


if __name__ == "__main__":
    main()
