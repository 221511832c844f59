"""What a trial cache takes in memory, estimated before anything is generated.

    trial_steps(task_set, dt, compat, task_seed)   (mean, max) steps of one trial
    cache_parts(settings, loaded=...)              {part: bytes} for check_fits

The mean trial length comes from two generated trials per task (a few ms),
so the estimate follows dt and the task set. A loaded cache is compact
(refrnn.data.compact): per step only its row in a small table of distinct
steps (uint16, uint32 past 65,536 distinct steps; the table itself measured
0.4 bytes a step for modcog x 1,000), read task by task, so one task's steps
are dense at a time; a build holds one task's trials at a time beside the
compressed file it fills in memory (refrnn.files.atomic: built in memory,
then written).
"""
from __future__ import annotations

import functools

import numpy as np

from ..backends.memory import check_fits
from ..tasks import registry
from ..tasks.trials import N_OBS

STEP_BYTES = 4                           # a loaded step: its table row, at the widest (uint32)
DENSE_STEP_BYTES = N_OBS * 4 + 8 + 1     # a dense step: obs float32, label int64, noise uint8
READ_STEP_BYTES = DENSE_STEP_BYTES + 4 * (N_OBS + 2) + 64  # + its key row and run search
GENERATE_STEP_BYTES = 2 * N_OBS * 8      # while a task generates: float64 obs and a copy
TRIAL_BYTES = 8 * 12                     # offsets, period bounds and parameters per trial
FILE_STEP_BYTES = 16                     # the gzip-1 file per step (measured: 8 at n=1000)
FILE_TASK_BYTES = 1 << 17                # and its fixed part per task (chunks, headers)


@functools.lru_cache(maxsize=64)
def trial_steps(task_set: str, dt: int = 100, compat=None, task_seed: int = 0,
                lookup=None) -> tuple:
    """(mean, max) trial length in steps over the task set's tasks at ``dt``.

    ``lookup``: (task_names, get_task) to use (refrnn.data.cache passes its own,
    which the tests replace by stand-in tasks); default the task registry."""
    task_names, get_task = lookup or (registry.task_names, registry.get_task)
    means, most = [], 1
    rng = np.random.default_rng(0)
    for name in task_names(task_set):
        tb = get_task(name, dt=dt, compat=compat, seed=task_seed).generate(2, rng)
        means.append(float(tb.lengths.mean()))
        most = max(most, int(tb.lengths.max()))
    return float(np.mean(means)), most


def cache_parts(s: dict, loaded: bool = True, lookup=None) -> dict:
    """{part: bytes} of a cache with settings ``s`` (keys of cache_settings):
    both splits loaded (``loaded``), else what a build holds at its peak."""
    mean, _ = trial_steps(s["task_set"], s["dt"], s["compat"], s["task_seed"], lookup)
    n_tasks = len(s["task_names"])
    trials = n_tasks * (s["trials_per_task"] + s["test_trials_per_task"])
    one_task = max(s["trials_per_task"], s["test_trials_per_task"])
    if loaded:
        return {"trials in memory": int(trials * (mean * STEP_BYTES + TRIAL_BYTES)),
                "one task's trials being read": int(one_task * mean * READ_STEP_BYTES)}
    return {"one task's trials being generated":
            int(one_task * (mean * (DENSE_STEP_BYTES + GENERATE_STEP_BYTES) + TRIAL_BYTES)),
            "the file being built": int(trials * mean * FILE_STEP_BYTES
                                        + 2 * n_tasks * FILE_TASK_BYTES)}


def check_cache_fits(s: dict, total=None, lookup=None) -> int:
    """TooLarge (a ValueError, one line) when building the cache ``s`` would
    need more memory than this machine has; else the estimate in bytes."""
    return check_fits(cache_parts(s, loaded=False, lookup=lookup),
                      f"a {s['task_set']} cache of {s['trials_per_task']} trials per task",
                      "ask for fewer trials per task", total=total)
