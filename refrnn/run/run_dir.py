"""The run directory: may this run use it, create it, and what a resume says.

    check_run_dir(cfg, resume, force)    ConfigError unless ``out`` fits; no side effects
    prepare_run_dir(cfg, resume, force)  the same, then create ``out`` (force: clear it)
    check_config_source(path, cfg, resume)  a run's own config.json may not aim at that run
    is_checkpoint_file, is_eval_table    recognisers of refrnn's run files (by content)
    check_task_dt(cfg)                   ConfigError when dt does not fit the task set
    resume_line(step, steps)             "resuming from step N of M"
    checkpoint_path(run_dir, checkpoint) the checkpoint file "last", "best" or a path names

:func:`refrnn.run.training.train` calls them around the run directory's lock
(:mod:`refrnn.files.locks`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .settings import ConfigError, TrainConfig
from ..files.errors import file_errors, make_folder
from ..files.locks import RUN_LOCK
from ..files.ownership import (check_replaceable, h5_with_marker, json_object_with,
                               text_starting_with)
from ..tasks.registry import check_compat_fits, check_dt_fits

RUN_FILES = ("config.json", "metrics.csv", "last.h5", "best.h5", "eval.csv")
CHECKPOINT_NAMES = ("last", "best")  # a run's own checkpoints, last.h5 and best.h5
CHECKPOINT_MARK = b"refrnn-checkpoint-"  # the start of every checkpoint format name
_CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def is_checkpoint_file(path) -> bool:
    """Whether ``path`` holds a refrnn checkpoint (format mark; damage elsewhere allowed)."""
    return h5_with_marker(path, CHECKPOINT_MARK)


def is_eval_table(path) -> bool:
    """Whether ``path`` is a table refrnn's evaluation wrote (its header)."""
    return text_starting_with(path, "task,perf,decision_acc,n")


def _is_run_config(path) -> bool:
    return json_object_with(path, ("task_set", "hidden", "sparsity", "seed", "out"),
                            _CONFIG_KEYS)


# What each run file is, for messages, and how refrnn recognises its own.
RUN_FILE_KINDS = {
    "config.json": ("a refrnn run's config.json", _is_run_config),
    "metrics.csv": ("a refrnn metrics.csv", lambda p: text_starting_with(p, "step,loss,")),
    "last.h5": ("a refrnn checkpoint", is_checkpoint_file),
    "best.h5": ("a refrnn checkpoint", is_checkpoint_file),
    "eval.csv": ("a refrnn evaluation table", is_eval_table),
}


def check_own_run_files(out: Path) -> None:
    """FileError naming the first run file in ``out`` that refrnn did not write
    (--force deletes the others, a new run writes them: neither may touch it)."""
    for name in RUN_FILES:
        what, is_own = RUN_FILE_KINDS[name]
        check_replaceable(out / name, what, is_own)


def check_run_dir(cfg: TrainConfig, resume: bool, force: bool) -> bool:
    """ConfigError unless ``cfg.out`` can take this run; True when it will be resumed.

    Changes nothing on disk. ``resume`` needs ``out/last.h5`` (else "nothing
    to resume", and no file is touched); a directory holding files needs
    ``resume`` or ``force``; the lock file alone does not count.
    """
    if resume and force:
        raise ConfigError("resume and force cannot both be set")
    out = cfg.out_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out {str(out)!r} exists and is not a directory")
    if resume:
        if (out / "last.h5").is_file():
            return True
        if not out.exists():
            raise ConfigError(f"nothing to resume: run directory {str(out)!r} does not "
                              "exist; start it without --resume")
        raise ConfigError(f"nothing to resume: run directory {str(out)!r} has no last.h5 "
                          "checkpoint; start it again with --force instead of --resume "
                          "(this deletes its run files)")
    if out.is_dir() and any(p.name != RUN_LOCK for p in out.iterdir()):
        check_own_run_files(out)  # a user's own config.json there: refused, force or not
        if not force:
            raise ConfigError(f"run directory {str(out)!r} already exists; pass "
                              "--resume to continue it or --force to overwrite it")
    return False


def prepare_run_dir(cfg: TrainConfig, resume: bool, force: bool) -> bool:
    """Check (:func:`check_run_dir`) and prepare ``cfg.out``: create it, and with
    ``force`` delete the run's own files. Returns True when resuming."""
    resuming = check_run_dir(cfg, resume, force)
    out = cfg.out_dir
    with file_errors(out, "create the run directory"):
        make_folder(out)
        if force:
            for name in RUN_FILES:
                if (out / name).is_file():
                    (out / name).unlink()
    return resuming


def check_config_source(config_file, cfg: TrainConfig, resume: bool) -> None:
    """ConfigError when the settings file ``config_file`` is the config.json of
    the run directory this new run would write (its own ``out``, or the
    default landing there): --force would delete the run it was read from."""
    if config_file is None or resume:
        return
    src = Path(config_file)
    if src.name == "config.json" and src.resolve().parent == cfg.out_dir.resolve():
        raise ConfigError(f"--config {str(src)!r} is the config.json of run directory "
                          f"{str(cfg.out_dir)!r}, which this new run would write into; "
                          "pass --out for the new run (or --resume to continue that one)",
                          "out")


def check_task_dt(cfg: TrainConfig) -> None:
    """ConfigError (key dt) when dt does not divide the task set's period lengths
    (key compat when the rule set cannot make the task set)."""
    try:
        check_compat_fits(cfg.task_set, cfg.compat)
    except ValueError as e:
        raise ConfigError(str(e), "compat") from None
    try:
        check_dt_fits(cfg.task_set, cfg.dt_ms, cfg.compat)
    except ValueError as e:
        raise ConfigError(str(e), "dt") from None


def resume_line(step: int, steps: int) -> str:
    """What a resumed run says first: where it continues, or that it is done."""
    if step >= steps:
        return f"run already at step {step} of {steps}: nothing to train (evaluating only)"
    return f"resuming from step {step} of {steps}"


def checkpoint_path(run_dir, checkpoint: str = "last") -> Path:
    """The checkpoint file of a run: ``run_dir/last.h5``, ``run_dir/best.h5`` or the
    file ``checkpoint`` names.

    ConfigError with key "run_dir" when ``run_dir`` has no config.json, key
    "checkpoint" when ``checkpoint`` is neither last, best nor an existing
    file (a missing last.h5 / best.h5 is load_checkpoint's to report).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run directory (no config.json)", "run_dir")
    if checkpoint in CHECKPOINT_NAMES:
        return run_dir / f"{checkpoint}.h5"
    if not Path(checkpoint).is_file():
        raise ConfigError(f"{str(checkpoint)!r} is neither last, best nor a file", "checkpoint")
    return Path(checkpoint)
