"""Start, resume and end a training run (the loop itself: refrnn.run.loop).

    train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult

resolves and checks the settings (once), checks and locks the run directory,
loads the trial cache, builds the model and sampler and hands them to the
harness (:class:`refrnn.run.harness.Harness`, a fresh start or a checkpoint's
state), which runs the loop. A run writes ``out/``: ``config.json`` (the
resolved TrainConfig), ``metrics.csv`` (one row per evaluation), ``last.h5`` / ``best.h5`` checkpoints and the final
``eval.csv`` table. Every random draw comes from the seed: the weights from
``seed``, the batch stream from a child seed, and the recurrent noise of update
s from ``SeedSequence([seed, 1, s])``, so a run resumed from a checkpoint
replays exactly the draws of an uninterrupted one and ends bit-identical.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .checkpoint import load_checkpoint
from .checkpoint_check import check_checkpoint, identity_diff
from .harness import Harness, RunResult, ctrl_c_flag, float_warnings_off
from .loop import SAMPLER_STREAM, TrainingDiverged, seed_for
from .memory import check_run_fits
from .open_run import build_model, load_trials
from .progress import Progress
from .run_dir import LAST, check_config_source, check_run_dir, prepare_run_dir
from .settings import ConfigError, TrainConfig, check_task_dt, load_config_file, normalize_keys
from ..backends.backend import get_backend
from ..data.stream import StreamSampler
from ..files.errors import file_errors, make_folder, remove_empty_folders
from ..files.locks import RUN_LOCK, hold_lock
from ..files.notices import notice
from ..tasks.trials import input_noise_std

__all__ = ["train", "TrainConfig", "RunResult", "TrainingDiverged"]


def resolve_config(config=None, overrides=None, resume=False) -> TrainConfig:
    """The run's settings, resolved and checked once: ``config`` (TrainConfig,
    dict or file path) with ``overrides`` on top.

    When resuming a run whose ``config.json`` exists, that file is the base and
    only the settings a resume may change (IDENTITY_FREE) may differ from it.
    ConfigError for a bad value, a settings file that is the config.json of
    the run it would overwrite, or a dt that does not fit the task set.
    """
    if config is None:
        base = {}
    elif isinstance(config, TrainConfig):
        base = config.to_dict()
    elif isinstance(config, (str, Path)):
        base = load_config_file(config)
    else:
        base = dict(config)
    given = normalize_keys(overrides or {})
    requested = {**normalize_keys(base), **given}
    try:
        cfg = TrainConfig.from_dict(requested).resolved()
    except ConfigError as e:
        if isinstance(config, (str, Path)):
            raise from_file(e, config, normalize_keys(base), given) from None
        raise
    if isinstance(config, (str, Path)):
        check_config_source(config, cfg, resume,
                            out_given="out" in normalize_keys(overrides or {}))
    stored_file = cfg.out_dir / "config.json"
    if resume and not stored_file.is_file() and (cfg.out_dir / LAST).is_file():
        raise ConfigError(f"cannot resume: run directory {str(cfg.out_dir)!r} has last.h5 "
                          "but no config.json, which holds the run's settings; put it back "
                          "(or start the run again with force=True)")
    if resume and stored_file.is_file():
        try:
            stored = TrainConfig.load(stored_file).resolved()
        except ConfigError as e:
            raise ConfigError(f"cannot resume: {e}; repair the run's config.json or put it "
                              "back (or start the run again with force=True)") from None
        cfg = TrainConfig.from_dict({**stored.to_dict(), **requested}).resolved()
        diff = identity_diff(stored, cfg)
        if diff:
            k = diff[0]
            raise ConfigError(f"cannot resume: {stored_file} has {k}={getattr(stored, k)!r} but "
                              f"{k}={getattr(cfg, k)!r} was asked for (start a new run, or "
                              "force=True)")
    check_task_dt(cfg)
    return cfg


def from_file(err: ConfigError, path, base: dict, given: dict) -> ConfigError:
    """``err`` naming the settings file ``path`` when the file holds the value
    at fault (an unknown key, or a bad value no override replaced); such an
    error has no key, so the command line blames no option of its own."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = [k for k in base if k not in known]
    if unknown:
        return ConfigError(f"config file {str(path)!r}: {err} (a setting of another refrnn "
                           "version? remove it from the file)")
    if err.key is not None and err.key in base and err.key not in given:
        return ConfigError(f"config file {str(path)!r}: {err}")
    return err


def train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult:
    """Train a network and write its run directory (see the module docstring).

    Args:
        config: a TrainConfig, a dict of settings or a JSON/TOML file path.
        resume: continue ``out`` from its ``last.h5`` (ConfigError if none;
            ConfigError if it is already past ``steps``).
        force: delete an existing run's files in ``out`` first.
        quiet: print nothing (otherwise refrnn.run.progress's lines: the run, where
            a resume starts, one line per evaluation; a bar on a terminal).
        callback: called after every update with a dict: step, steps, start
            (the step this call began at), loss (this batch), mean_loss (the
            figure metrics.csv logs: mean since the previous row), mean_perf
            of the latest evaluation, seconds, eta (seconds left, estimated).
        overrides: TrainConfig settings, e.g. ``steps=500, sparsity=0.1``.
    Raises ConfigError (a ValueError) for bad settings or run directories and
    for a run too large for this machine's memory (refrnn.run.memory),
    CheckpointError for a corrupted or mismatched checkpoint, TrainingDiverged
    for a non-finite loss, Interrupted (a KeyboardInterrupt) after saving
    ``last.h5`` on Ctrl-C or SIGTERM, FileError (an OSError) when a file cannot be written (the last good
    checkpoint is kept), LockError when another process trains into ``out``.
    """
    cfg = resolve_config(config, overrides, resume)
    try:
        backend = get_backend(cfg.device, threads=cfg.threads)
    except RuntimeError as e:  # cuda asked for where there is none
        raise ConfigError(str(e), "device") from None
    check_run_fits(cfg)  # before any allocation, cache build or file: one line if too large
    out = cfg.out_dir
    made = []  # the run directory and the parents this run creates for it
    try:  # from before the first folder: a SIGTERM at any point still finds what was made
        if not out.is_dir():  # e.g. nothing to resume: say so before creating anything
            check_run_dir(cfg, resume, force)
            with file_errors(out, "create the run directory"):
                make_folder(out, made)
        # an existing directory is locked first, so a live writer is named in any case
        with hold_lock(out / RUN_LOCK, f"run directory {out}", on_stale=notice):
            return _train_locked(cfg, backend, resume, force, quiet, callback)
    except BaseException:
        # a run that failed before writing anything leaves no empty folder (nor parent)
        remove_empty_folders(made)
        raise


def make_sampler(cfg: TrainConfig, train_trials, names, backend=None) -> StreamSampler:
    """The run's batch stream: ``cfg.batch_size`` x ``cfg.seq_len``, drawn from
    ``seed_for(cfg.seed, SAMPLER_STREAM)``, input noise when ``cfg.input_noise``."""
    return StreamSampler(train_trials, names, cfg.batch_size, cfg.seq_len,
                         seed=seed_for(cfg.seed, SAMPLER_STREAM), backend=backend,
                         noise_std=input_noise_std(cfg.dt) if cfg.input_noise else 0.0,
                         reuse_x=True)  # each batch is used up by its step


def _train_locked(cfg, backend, resume, force, quiet, callback) -> RunResult:
    resuming = prepare_run_dir(cfg, resume, force)
    ckpt = None
    if resuming:
        ckpt = load_checkpoint(cfg.out_dir / LAST)
        check_checkpoint(ckpt, cfg, str(cfg.out_dir / LAST), check_step=False,
                         mismatch=ConfigError)
        if ckpt.step > cfg.steps:
            raise ConfigError(f"run {str(cfg.out_dir)!r} is already at step {ckpt.step}, "
                              f"past steps={cfg.steps}; nothing to resume (ask for more "
                              f"steps, at least {ckpt.step})", "steps")
    progress = None if quiet else Progress(cfg)
    if progress is not None:
        progress.begin(ckpt.step if ckpt is not None else None)
    train_trials, test_trials, names = load_trials(cfg)
    model = build_model(cfg, backend)
    sampler = make_sampler(cfg, train_trials, names, backend)
    harness = Harness(cfg, model, sampler, test_trials, names, progress, callback)
    with float_warnings_off():  # a divergence is one TrainingDiverged line, not warnings first
        if ckpt is not None:
            harness.restore(ckpt)
        else:
            harness.start()
        with ctrl_c_flag() as stop:
            try:
                harness.run(stop)
            finally:
                if progress is not None:
                    progress.end()
    return harness.result()
