"""Start, resume and end a training run (the step and its loop: refrnn.run.loop).

    train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult

resolves the settings, checks and locks the run directory, loads the trial
cache, builds the model and sampler, hands them to :class:`refrnn.run.loop.Loop`
(a fresh start or a checkpoint's state), and turns Ctrl-C into a saved stop;
:func:`evaluate_run` scores a finished run's checkpoint. A run
writes ``out/``: ``config.json`` (the resolved TrainConfig), ``metrics.csv``
(one row per evaluation), ``last.h5`` / ``best.h5`` checkpoints and the final
``eval.csv`` table. Every random draw comes from the seed: the weights from
``seed``, the batch stream from a child seed, and the recurrent noise of update
s from ``SeedSequence([seed, 1, s])``, so a run resumed from a checkpoint
replays exactly the draws of an uninterrupted one and ends bit-identical.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import numpy as np

from .checkpoint import load_checkpoint, restore_params
from .evaluation import evaluate
from .loop import (EVAL_STREAM, SAMPLER_STREAM, Loop, RunResult, TrainingDiverged,
                   float_warnings_off, seed_for)
from .run_dir import (check_config_source, check_run_dir, check_task_dt, checkpoint_path,
                      prepare_run_dir, resume_line)
from .settings import ConfigError, TrainConfig, load_config_file, normalize_keys
from ..backends.backend import get_backend
from ..core.model import RNN
from ..data import cache
from ..data.stream import StreamSampler
from ..files.errors import file_errors, make_folder
from ..files.locks import RUN_LOCK, hold_lock
from ..files.notices import notice
from ..tasks.trials import input_noise_std
from .checkpoint_check import IDENTITY_FREE, check_checkpoint
from .memory import check_eval_fits, check_run_fits

__all__ = ["train", "TrainConfig", "RunResult", "TrainingDiverged", "evaluate_run"]

# Settings a resumed run may change; anything else must match the checkpoint.
RESUMABLE = IDENTITY_FREE


def resolve_config(config=None, overrides=None, resume=False) -> TrainConfig:
    """Merge ``config`` (TrainConfig, dict or file path) with ``overrides``.

    When resuming a run whose ``config.json`` exists, that file is the base and
    only the RESUMABLE settings may differ from it (ConfigError otherwise).
    """
    if config is None:
        base = {}
    elif isinstance(config, TrainConfig):
        base = config.to_dict()
    elif isinstance(config, (str, Path)):
        base = load_config_file(config)
    else:
        base = dict(config)
    requested = {**normalize_keys(base), **normalize_keys(overrides or {})}
    cfg = TrainConfig.from_dict(requested).resolved()
    if isinstance(config, (str, Path)):
        check_config_source(config, cfg, resume)
    stored_file = cfg.out_dir / "config.json"
    if not (resume and stored_file.is_file()):
        return cfg
    stored = TrainConfig.load(stored_file).resolved()
    merged = TrainConfig.from_dict({**stored.to_dict(), **requested}).resolved()
    check_compatible(stored.to_dict(), merged.to_dict(), str(stored_file))
    return merged


def check_compatible(stored: dict, wanted: dict, where: str):
    diff = [k for k in wanted if k not in RESUMABLE and stored.get(k) != wanted[k]]
    if diff:
        k = diff[0]
        raise ConfigError(f"cannot resume: {where} has {k}={stored.get(k)!r} but "
                          f"{k}={wanted[k]!r} was asked for (start a new run, or --force)")


def load_trials(cfg: TrainConfig):
    """(train dict, test dict, task names) from the configured trial cache."""
    args, kw = cfg.cache_request()
    return cache.load_trials(*args, path=cfg.cache_path, **kw)


def build_model(cfg: TrainConfig, backend) -> RNN:
    """The run's network (``cfg.model_config()``), weights drawn from ``cfg.seed``."""
    return RNN(cfg.model_config(), backend, seed=cfg.seed)


def train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult:
    """Train a network and write its run directory (see the module docstring).

    Args:
        config: a TrainConfig, a dict of settings or a JSON/TOML file path.
        resume: continue ``out`` from its ``last.h5`` (ConfigError if none;
            ConfigError if it is already past ``steps``).
        force: delete an existing run's files in ``out`` first.
        quiet: print nothing (otherwise a resume line and one line per evaluation).
        callback: called after every update with a dict: step, steps, start
            (the step this call began at), loss (this batch), mean_loss (the
            figure metrics.csv logs: mean since the previous row), mean_perf
            of the latest evaluation, seconds, eta (seconds left, estimated).
        overrides: TrainConfig settings, e.g. ``steps=500, sparsity=0.1``.
    Raises ConfigError (a ValueError) for bad settings or run directories and
    for a run too large for this machine's memory (refrnn.run.memory),
    CheckpointError for a corrupted or mismatched checkpoint, TrainingDiverged
    for a non-finite loss, KeyboardInterrupt after saving ``last.h5`` on Ctrl-C,
    FileError (an OSError) when a file cannot be written (the last good
    checkpoint is kept), LockError when another process trains into ``out``.
    """
    cfg = resolve_config(config, overrides, resume)
    check_task_dt(cfg)
    try:
        backend = get_backend(cfg.device, threads=cfg.threads)
    except RuntimeError as e:  # cuda asked for where there is none
        raise ConfigError(str(e), "device") from None
    check_run_fits(cfg)  # before any allocation, cache build or file: one line if too large
    out = cfg.out_dir
    created = not out.is_dir()
    if created:  # e.g. nothing to resume: say so before creating anything
        check_run_dir(cfg, resume, force)
        with file_errors(out, "create the run directory"):
            make_folder(out)
    try:
        # an existing directory is locked first, so a live writer is named in any case
        with hold_lock(out / RUN_LOCK, f"run directory {out}", on_stale=notice):
            return _train_locked(cfg, backend, resume, force, quiet, callback)
    except BaseException:
        if created:  # a run that failed before writing anything leaves no empty folder
            try:
                out.rmdir()
            except OSError:  # not empty (or already gone): keep what is there
                pass
        raise


def _train_locked(cfg, backend, resume, force, quiet, callback) -> RunResult:
    resuming = prepare_run_dir(cfg, resume, force)
    ckpt = None
    if resuming:
        ckpt = load_checkpoint(cfg.out_dir / "last.h5")
        check_compatible(ckpt.config, cfg.to_dict(), str(cfg.out_dir / "last.h5"))
        check_checkpoint(ckpt, cfg, str(cfg.out_dir / "last.h5"), check_step=False)
        if ckpt.step > cfg.steps:
            raise ConfigError(f"run {str(cfg.out_dir)!r} is already at step {ckpt.step}, "
                              f"past steps={cfg.steps}; nothing to resume (ask for more "
                              f"steps, at least {ckpt.step})", "steps")
        if not quiet:
            print(resume_line(ckpt.step, cfg.steps), flush=True)
    train_trials, test_trials, names = load_trials(cfg)
    model = build_model(cfg, backend)
    sampler = StreamSampler(train_trials, names, cfg.batch_size, cfg.seq_len,
                            seed=seed_for(cfg.seed, SAMPLER_STREAM), backend=backend,
                            noise_std=input_noise_std(cfg.dt_ms) if cfg.input_noise else 0.0,
                            reuse_x=True)  # each batch is used up by its step
    loop = Loop(cfg, model, sampler, test_trials, names, quiet=quiet, callback=callback)
    with float_warnings_off():  # a divergence is one TrainingDiverged line, not warnings first
        if ckpt is not None:
            loop.restore(ckpt)
        else:
            loop.start()
        with _sigint_flag() as stop:
            loop.run(stop)
    return loop.result()


class _sigint_flag:
    """Within the block, Ctrl-C sets ``flag["set"]`` instead of raising (main thread only).

    A second Ctrl-C raises KeyboardInterrupt at once.
    """

    def __enter__(self):
        self.flag = {"set": False}
        self.old = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                if self.flag["set"]:
                    raise KeyboardInterrupt
                self.flag["set"] = True
            self.old = signal.signal(signal.SIGINT, handler)
        return self.flag

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def evaluate_run(run_dir, checkpoint="last", noise=False, seed=0, device=None,
                 batch_size=None, score="refrnn"):
    """Score a run's checkpoint on its test trials (the dict of refrnn.run.evaluation.evaluate).

    ``checkpoint`` is "last", "best" or a path to a checkpoint file
    (:func:`refrnn.run.run_dir.checkpoint_path`); ``score`` the rule ``perf``
    reports (refrnn, yang2019 or neurogym; refrnn.run.scoring).
    """
    path = checkpoint_path(run_dir, checkpoint)
    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    if device is not None:
        cfg = cfg.replace(device=device)
    check_eval_fits(cfg, batch_size)
    ckpt = load_checkpoint(path)
    check_checkpoint(ckpt, cfg, str(path))  # this run's, finite: else one line saying why
    _, test_trials, names = load_trials(cfg)
    model = build_model(cfg, get_backend(cfg.device))
    restore_params(model, ckpt, str(path))
    rng = np.random.default_rng(seed_for(seed, EVAL_STREAM)) if noise else None
    return evaluate(model, test_trials, names, batch_size=batch_size or cfg.eval_batch_size,
                    noise=noise, rng=rng, input_noise_std=input_noise_std(cfg.dt_ms), score=score)
