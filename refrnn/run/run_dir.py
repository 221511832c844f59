"""The run directory: may this run use it, create it, and what a resume says.

    check_run_dir(cfg, resume, force)    ConfigError unless ``out`` fits; no side effects
    prepare_run_dir(cfg, resume, force)  the same, then create ``out`` (force: clear it)
    check_task_dt(cfg)                   ConfigError when dt does not fit the task set
    resume_line(step, steps)             "resuming from step N of M"

:func:`refrnn.run.training.train` calls them around the run directory's lock
(:mod:`refrnn.files.locks`).
"""
from __future__ import annotations

from .settings import ConfigError, TrainConfig
from ..files.errors import file_errors, make_folder
from ..files.locks import RUN_LOCK

RUN_FILES = ("config.json", "metrics.csv", "last.h5", "best.h5", "eval.csv")


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
    if out.is_dir() and not force and any(p.name != RUN_LOCK for p in out.iterdir()):
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


def check_task_dt(cfg: TrainConfig) -> None:
    """ConfigError (key dt) when dt does not divide the task set's period lengths."""
    from ..tasks.registry import check_dt_fits
    try:
        check_dt_fits(cfg.task_set, cfg.dt_ms, cfg.compat)
    except ValueError as e:
        raise ConfigError(str(e), "dt") from None


def resume_line(step: int, steps: int) -> str:
    """What a resumed run says first: where it continues, or that it is done."""
    if step >= steps:
        return f"run already at step {step} of {steps}: nothing to train (evaluating only)"
    return f"resuming from step {step} of {steps}"
