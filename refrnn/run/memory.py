"""The memory a training run or an evaluation needs, estimated before any of it
is allocated, and the refusal when that is more than the machine has.

    run_parts(cfg)          {part: bytes}: trials, parameters and Adam state,
                            the mask, one training batch's BPTT buffers, one
                            evaluation batch, the sampler state
    check_run_fits(cfg)     ConfigError (one line: the estimate, its largest
                            parts, this machine's memory) when it does not fit
    check_eval_fits(cfg, batch_size)   the same for ``refrnn eval``

Sizes follow refrnn.core.engine: the forward keeps U (N, K) and H (N, K + B)
for K = T * B, the backward adds G (N, K) and a gradient buffer of the same
size, inputs X (K, 33 + n_tasks) and outputs Y, dY (K, 17). The parameters
(W_in, w_rec at the mask, W_out, biases, h0) are held four times (values,
gradients, Adam's two moments) and copied once more into a checkpoint.
"""
from __future__ import annotations

import numpy as np

from .settings import ConfigError, TrainConfig
from ..backends.memory import TooLarge, check_fits
from ..backends.plain import DENSE_DENSITY
from ..core.masks import mask_nnz
from ..data.cache import cache_settings
from ..data.footprint import cache_parts, trial_steps
from ..tasks.registry import task_names
from ..tasks.trials import N_CLASSES, N_OBS

MASK_BYTES_PER_ENTRY = 48  # building it (sources, CSR data and indices) and the transposed copy
ADVICE = ("lower hidden, batch_size x seq_len, eval_batch_size or trials_per_task "
          "(docs/reliability.md)")


def run_parts(cfg: TrainConfig, eval_batch_size=None) -> dict:
    """{part: bytes} of a run with these settings (see the module docstring)."""
    it = np.dtype(cfg.dtype).itemsize
    n, b, t = int(cfg.hidden), int(cfg.batch_size), int(cfg.seq_len)
    k = t * b
    n_tasks = len(task_names(cfg.task_set))
    n_in, n_out = N_OBS + n_tasks, N_CLASSES
    nnz = mask_nnz(cfg.mask, n, cfg.sparsity)
    n_params = n * n_in + nnz + n_out * n + 2 * n + n_out
    args, kw = cfg.cache_request()
    s = cache_settings(*args, **kw)
    _, longest = trial_steps(s["task_set"], s["dt"], s["compat"], s["task_seed"])
    be = int(eval_batch_size or cfg.eval_batch_size)
    be = min(be, int(cfg.eval_trials))  # no evaluation batch is larger than a task's trials
    dense = nnz > DENSE_DENSITY * n * n
    return {
        **cache_parts(s, loaded=True),
        "parameters, gradients, Adam state and a checkpoint copy": 5 * n_params * it,
        "recurrent mask": nnz * MASK_BYTES_PER_ENTRY + (n * n * it if dense else 0),
        "training batch (BPTT states)": (4 * n * (k + b) + k * (2 * n_in + 3 * n_out)) * it
                                        + k * 20,
        "evaluation batch": be * longest * (2 * n + n_in + n_out) * it,
        "sampler state": b * 64,
    }


def check_run_fits(cfg: TrainConfig, total=None) -> int:
    """The estimate in bytes, or ConfigError when this run cannot fit in memory."""
    try:
        return check_fits(run_parts(cfg), f"this run (hidden={cfg.hidden}, batch_size="
                          f"{cfg.batch_size}, seq_len={cfg.seq_len}, trials_per_task="
                          f"{cfg.trials_per_task})", ADVICE, total=total)
    except TooLarge as e:
        raise ConfigError(str(e)) from None


def check_eval_fits(cfg: TrainConfig, batch_size=None, total=None) -> int:
    """As :func:`check_run_fits` for scoring a run with ``batch_size`` trials a pass."""
    parts = run_parts(cfg, eval_batch_size=batch_size)
    parts.pop("training batch (BPTT states)")
    try:
        return check_fits(parts, f"evaluating this run (hidden={cfg.hidden}, batch size "
                          f"{batch_size or cfg.eval_batch_size})", "lower --batch-size",
                          total=total)
    except TooLarge as e:
        raise ConfigError(str(e)) from None
