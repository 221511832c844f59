"""Trial generators for the Yang et al. 2019 and Mod-Cog task batteries.

``task_names(set)`` gives a set's tasks in one-hot order, ``get_task(name)``
a Task whose ``generate(n, rng)`` returns a ragged, noise-free
:class:`TrialBatch` (input noise is added when trials are served, by
``refrnn.data.stream``); ``TaskEnv`` serves trials one at a time as a
neurogym env does. See docs/tasks.md for the rules.
"""
from .trials import TrialBatch, input_noise_std  # noqa: F401
from .registry import (  # noqa: F401
    BASE_TASKS, DELAY_TASKS, TASK_SETS, get_task, make_trial, parse_name, task_info,
    task_names)
from .env import TaskEnv  # noqa: F401

#: Bump when any trial rule changes (caches record it).
TASK_CODE_VERSION = 1
