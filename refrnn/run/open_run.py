"""Open a trained run: one function for every command that reads one.

    load_run(run_dir, checkpoint=None, device=None, trials=True) -> OpenRun
        the run's settings (config.json), its checkpoint (loaded and checked:
        this run's, finite), the model with those parameters and, with
        ``trials``, its held-out trials
    evaluate_run(run_dir, checkpoint=None, ...) -> scores of that network

``checkpoint`` None is the default of every command (eval, analyze, export):
``best.h5`` when the run has one, else ``last.h5``; ``OpenRun.checkpoint_name``
says which was used. "best", "last" or a checkpoint file's path choose.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .checkpoint import Checkpoint, load_checkpoint, restore_params
from .checkpoint_check import check_checkpoint
from .loop import EVAL_STREAM, seed_for
from .memory import check_eval_fits
from .run_dir import CHECKPOINT_NAMES, find_checkpoint
from .settings import ConfigError, TrainConfig
from ..backends.backend import get_backend
from ..core.model import RNN
from ..data import cache
from ..score.evaluation import evaluate
from ..tasks.registry import task_names
from ..tasks.trials import input_noise_std


def load_trials(cfg: TrainConfig):
    """(train dict, test dict, task names) from the configured trial cache."""
    args, kw = cfg.cache_request()
    return cache.load_trials(*args, path=cfg.cache_path, **kw)


def build_model(cfg: TrainConfig, backend) -> RNN:
    """The run's network (``cfg.model_config()``), weights drawn from ``cfg.seed``."""
    return RNN(cfg.model_config(), backend, seed=cfg.seed)


@dataclass
class OpenRun:
    """A trained run read back: settings, checkpoint, network, held-out trials."""

    run_dir: Path
    config: TrainConfig
    checkpoint: Checkpoint
    checkpoint_path: Path
    checkpoint_name: str      # "best", "last" or the file's name
    model: RNN                # with the checkpoint's parameters
    test_trials: Optional[dict]  # task -> TrialBatch (None when not asked for)
    task_names: list          # one-hot order

    @property
    def step(self) -> int:
        return int(self.checkpoint.step)


def load_run(run_dir, checkpoint=None, *, device=None, batch_size=None,
             trials=True) -> OpenRun:
    """Open ``run_dir`` (see the module docstring).

    Args:
        checkpoint: None (best, else last), "best", "last" or a file path.
        device: where to build the network (default: the run's own device).
        batch_size: trials per evaluation pass, for the memory check
            (default: the run's eval_batch_size).
        trials: load the held-out trials (needs the run's trial cache).
    Raises ConfigError for a bad run directory, settings or memory estimate,
    CheckpointError for a missing, damaged, foreign or non-finite checkpoint.
    """
    run = Path(run_dir)
    path = find_checkpoint(run, checkpoint)
    cfg = TrainConfig.load(run / "config.json")
    if device is not None:
        cfg = cfg.replace(device=device)
    if trials:
        check_eval_fits(cfg, batch_size)
    ckpt = load_checkpoint(path)
    check_checkpoint(ckpt, cfg, str(path))  # this run's, finite: else one line saying why
    try:
        backend = get_backend(cfg.device)
    except RuntimeError as e:  # cuda asked for where there is none
        raise ConfigError(str(e), "device") from None
    test_trials, names = None, list(task_names(cfg.task_set))
    if trials:
        _, test_trials, names = load_trials(cfg)
    model = build_model(cfg, backend)
    restore_params(model, ckpt, str(path))  # CheckpointError when it does not fit
    name = path.stem if path.parent == run and path.stem in CHECKPOINT_NAMES else path.name
    return OpenRun(run, cfg, ckpt, path, name, model, test_trials, list(names))


def evaluate_run(run_dir, checkpoint=None, noise=False, noise_seed=0, device=None,
                 batch_size=None, score="refrnn"):
    """Score a run's checkpoint on its test trials (the dict of refrnn.score.evaluation.evaluate).

    ``checkpoint``: as :func:`load_run`; ``noise_seed`` seeds the evaluation noise
    (with ``noise``); ``score`` the rule ``perf`` reports (refrnn, yang2019 or
    neurogym; refrnn.score.rules).
    """
    run = load_run(run_dir, checkpoint, device=device, batch_size=batch_size)
    cfg = run.config
    rng = np.random.default_rng(seed_for(noise_seed, EVAL_STREAM)) if noise else None
    return evaluate(run.model, run.test_trials, run.task_names,
                    batch_size=batch_size or cfg.eval_batch_size, noise=noise, rng=rng,
                    input_noise_std=input_noise_std(cfg.dt), score=score)
