"""The run directory: may this run use it, create it, and what a resume says.

    check_run_dir(cfg, resume, force)    ConfigError unless ``out`` fits; no side effects
    prepare_run_dir(cfg, resume, force)  the same, then create ``out`` (force: clear it)
    clear_derived(out)                   delete refrnn's tables and figures of an old run
    check_config_source(path, cfg, resume)  a run's own config.json may not aim at that run
    is_checkpoint_file, is_eval_table    recognisers of refrnn's run files (by content)
    find_checkpoint(run_dir, checkpoint) the checkpoint file "last", "best" or a path names
                                         (None: best.h5, else last.h5)

:func:`refrnn.run.training.train` calls them around the run directory's lock
(:mod:`refrnn.files.locks`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .checkpoint import CheckpointError
from .settings import ConfigError, TrainConfig
from ..files.errors import file_errors, make_folder
from ..files.locks import RUN_LOCK
from ..files.ownership import (MANIFEST, check_replaceable, h5_with_marker,
                               json_object_with, text_starting_with, written_by_refrnn)
from ..score.table import is_eval_table

LAST, BEST = "last.h5", "best.h5"  # a run's two checkpoints: the latest, the best scored
RUN_FILES = ("config.json", "metrics.csv", LAST, BEST, "eval.csv")
CHECKPOINT_NAMES = ("last", "best")  # a run's own checkpoints, last.h5 and best.h5
CHECKPOINT_MARK = b"refrnn-checkpoint-"  # the start of every checkpoint format name
_CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def is_checkpoint_file(path) -> bool:
    """Whether ``path`` holds a refrnn checkpoint (format mark; damage elsewhere allowed)."""
    return h5_with_marker(path, CHECKPOINT_MARK)


def _is_run_config(path) -> bool:
    return json_object_with(path, ("task_set", "hidden", "sparsity", "seed", "out"),
                            _CONFIG_KEYS)


# What each run file is, for messages, and how refrnn recognises its own.
RUN_FILE_KINDS = {
    "config.json": ("a refrnn run's config.json", _is_run_config),
    "metrics.csv": ("a refrnn metrics.csv", lambda p: text_starting_with(p, "step,loss,")),
    LAST: ("a refrnn checkpoint", is_checkpoint_file),
    BEST: ("a refrnn checkpoint", is_checkpoint_file),
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
        if (out / LAST).is_file():
            return True
        if not out.exists():
            raise ConfigError(f"nothing to resume: run directory {str(out)!r} does not "
                              "exist; start it without resume=True")
        raise ConfigError(f"nothing to resume: run directory {str(out)!r} has no last.h5 "
                          "checkpoint; start it again with force=True instead of resume=True "
                          "(this deletes its run files)")
    if out.is_dir() and any(p.name != RUN_LOCK for p in out.iterdir()):
        check_own_run_files(out)  # a user's own config.json there: refused, force or not
        if not force:
            raise ConfigError(f"run directory {str(out)!r} already exists; pass "
                              "resume=True to continue it or force=True to overwrite it")
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
            clear_derived(out)
    return resuming


def clear_derived(out: Path) -> list:
    """Delete what refrnn wrote into run directory ``out`` from the run that
    ``--force`` replaces, so nothing stale describes another network: eval
    tables ``eval_*.csv`` (recognised by content), every file the folder's
    manifest records with its current bytes (``plot_*.png`` figures) and the
    same inside ``analysis_*/`` (its tables and figures; the folder goes when
    it is left empty). A user's own file is kept. Returns the paths deleted."""
    gone = []
    for path in sorted(out.glob("eval_*.csv")):
        if path.is_file() and is_eval_table(path):
            path.unlink()
            gone.append(path)
    for folder in [out] + sorted(p for p in out.glob("analysis_*") if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.name != MANIFEST and path.is_file() and written_by_refrnn(path):
                path.unlink()
                gone.append(path)
        if (folder / MANIFEST).is_file() and not any(
                (folder / name).exists() for name in _manifest_names(folder)):
            (folder / MANIFEST).unlink()  # it records nothing that is still there
        if folder != out and not any(folder.iterdir()):
            folder.rmdir()
    return gone


def _manifest_names(folder: Path) -> list:
    text = (folder / MANIFEST).read_bytes().decode("utf-8", errors="replace")
    return [line.partition("  ")[2] for line in text.splitlines() if "  " in line]


def check_config_source(config_file, cfg: TrainConfig, resume: bool,
                        out_given: bool = False) -> None:
    """ConfigError (key out) when the settings file ``config_file`` would aim a
    new run at a run it was copied from: it is the config.json of the run
    directory this run would write (its own ``out``, or the default landing
    there), or a run's config.json (refrnn's, every setting in it) copied
    elsewhere whose ``out`` names an existing run, with no other out given
    (``out_given``): ``force`` would delete that run, without it the run
    refuses only because the folder exists. A resume may use either."""
    if config_file is None or resume:
        return
    src = Path(config_file)
    if src.name == "config.json" and src.resolve().parent == cfg.out_dir.resolve():
        raise ConfigError(f"config file {str(src)!r} is the config.json of run directory "
                          f"{str(cfg.out_dir)!r}, which this new run would write into; "
                          "give the new run its own out (or resume=True to continue that one)",
                          "out")
    out = cfg.out_dir
    if (not out_given and _is_run_config(src)
            and ((out / "config.json").is_file() or (out / LAST).is_file())):
        raise ConfigError(f"config file {str(src)!r} is a copy of the config.json of run "
                          f"directory {str(out)!r} (its out setting); a new run from it "
                          "needs its own out (or resume=True to continue that run)", "out")


def checkpoint_choice(run_dir, checkpoint=None):
    """``checkpoint``, or when None the default of every command: "best" when
    ``run_dir`` has best.h5, else "last"."""
    if checkpoint is not None:
        return checkpoint
    return "best" if (Path(run_dir) / BEST).is_file() else "last"


def find_checkpoint(run_dir, checkpoint=None) -> Path:
    """The checkpoint file of a run: ``run_dir/last.h5``, ``run_dir/best.h5`` or the
    file ``checkpoint`` names (None: best.h5 when it exists, else last.h5).

    ConfigError with key "run_dir" when ``run_dir`` has no config.json, key
    "checkpoint" when ``checkpoint`` is neither last, best nor an existing
    file; CheckpointError when the run has no such checkpoint (naming the one
    it has).
    """
    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise ConfigError(f"{str(run)!r} is not a run directory (no config.json)", "run_dir")
    have = [c for c in CHECKPOINT_NAMES if (run / f"{c}.h5").is_file()]
    if checkpoint is None and not have:
        raise CheckpointError(f"run {str(run)!r} has no best.h5 checkpoint nor last.h5; "
                              "train it first (refrnn train)")
    checkpoint = checkpoint_choice(run, checkpoint)
    if checkpoint in CHECKPOINT_NAMES:
        if checkpoint not in have:
            hint = (f"; it has {have[0]}.h5 (--checkpoint {have[0]})" if have
                    else "; train it first (refrnn train)")
            raise CheckpointError(f"run {str(run)!r} has no {checkpoint}.h5 checkpoint{hint}")
        return run / f"{checkpoint}.h5"
    if not Path(checkpoint).is_file():
        raise ConfigError(f"{str(checkpoint)!r} is neither last, best nor a file", "checkpoint")
    return Path(checkpoint)
