"""One run of a sweep: train one grid point, its failed flag and done marker.

Every way of running a sweep goes through here: the local sweep's child
processes (:func:`run_worker` on a spec file), the dask tasks
(:mod:`refrnn.experiments.dask_worker`) and the summaries
(:mod:`refrnn.experiments.summary`) that read back what the runs left.

A run's files, under the sweep folder ``out_dir``::

    <run>/                 the run directory train() writes
    <run>/sweep_done.json  DONE_MARKER: written atomically once train returned
    _logs/<run>.failed     why the run failed last time (gone once it succeeds)

A run spec (:func:`run_spec`) is a dict with ``run_dir``, ``label``,
``seed``, ``config`` (the TrainConfig overrides) and ``restart``.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from ..files.atomic import atomic_write_text
from ..files.locks import RUN_LOCK, LockError, hold_lock
from ..files.notices import show_notices_as_lines
from ..run.checkpoint import CheckpointError, load_checkpoint
from ..run.settings import TrainConfig
from ..run.training import train
from .grid import RunSpec
from .run_guard import check_same_run, restart_allowed

DONE_MARKER = "sweep_done.json"  # written into a run directory when its run finished
LAST_CHECKPOINT = "last.h5"  # the checkpoint train() resumes from
PARENT_POLL_S = 0.5  # how often a worker checks that its sweep is still there
RESEND_S = 30.0  # then how often it interrupts itself until it has stopped


def run_spec(spec: RunSpec, out_dir: Path, base: dict, restart: bool) -> dict:
    """What a worker needs to train ``spec`` into ``out_dir/<spec.name>``."""
    return {"run_dir": str(out_dir / spec.name), "label": spec.label,
            "seed": spec.seed, "config": {**base, **spec.overrides},
            "restart": restart}


def train_run(spec: dict, callback=None) -> None:
    """Train one run of a sweep in this process and mark it finished.

    ``spec`` is :func:`run_spec`'s dict. An existing run directory is
    resumed (train starts afresh when it has no ``last.h5``), or wiped and
    started again when ``restart`` is true. ``callback`` is passed to train.
    Raises what train raises; the marker is written only after it returned.
    """
    run_dir = Path(spec["run_dir"])
    t0 = time.time()
    wait_for_run_lock(run_dir)  # a killed sweep's worker may still be saving its last.h5
    check_same_run(run_dir, dict(spec["config"], seed=spec["seed"], out=str(run_dir)))
    # a directory without last.h5 (a run that failed before its first save) restarts;
    # a finished run never does (another configuration's run is refused above)
    restart = restart_allowed(run_dir, bool(spec.get("restart"))
                              or not (run_dir / LAST_CHECKPOINT).is_file(), DONE_MARKER)
    train(resume=run_dir.exists() and not restart, force=restart, quiet=True,
          callback=callback,
          **dict(spec["config"], seed=spec["seed"], out=str(run_dir)))
    atomic_write_text(run_dir / DONE_MARKER, json.dumps({
        "label": spec["label"], "seed": spec["seed"], "config": spec["config"],
        "worker_seconds": round(time.time() - t0, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2))


def run_worker(spec_path: str | Path, parent: int | None = None) -> int:
    """Child-process entry: :func:`train_run` on a spec file; exit status.

    ``parent``: the pid of the sweep that started this process. When that
    process is gone (killed, even with kill -9), this one interrupts itself
    as Ctrl-C does (train saves last.h5) and exits with status 130, so no
    worker trains on as an orphan (:func:`stop_with_parent`). Notices go to its
    log as ``note: ...`` lines, as at the command line."""
    show_notices_as_lines()
    if parent is not None:
        stop_with_parent(parent)
    try:
        train_run(json.loads(Path(spec_path).read_text(encoding="utf-8")))
    except KeyboardInterrupt as e:
        if parent is None or os.getppid() == parent:
            raise
        print(f"stopped: the sweep (pid {parent}) that started this run is gone ({e})",
              flush=True)
        return 130
    return 0


def stop_with_parent(parent: int, poll_s: float = PARENT_POLL_S) -> None:
    """Send this process SIGINT (Ctrl-C) once its parent is no longer ``parent``
    (an orphan is adopted by another process), checked every ``poll_s`` seconds
    by a daemon thread, and again every RESEND_S seconds while it still runs
    (the first one lets train save last.h5; a later one stops it where it is);
    KeyboardInterrupt at once when the parent is already gone."""
    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        while True:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(RESEND_S)

    if os.getppid() != parent:
        raise KeyboardInterrupt(f"the sweep (pid {parent}) is gone before the run started")
    threading.Thread(target=watch, name="refrnn-stop-with-parent", daemon=True).start()


def wait_for_run_lock(run_dir: Path, say=print) -> None:
    """Return once no process holds ``run_dir``'s lock (a worker of a killed
    sweep may still be saving there); says once that it waits."""
    if not run_dir.is_dir():
        return
    lock, what = run_dir / RUN_LOCK, f"run directory {run_dir}"
    try:
        with hold_lock(lock, what):
            return
    except LockError as e:
        say(f"waiting: {e}")
    with hold_lock(lock, what, wait=True):
        return


def read_done_marker(run_dir: str | Path) -> dict | None:
    """The run's done marker (label, seed, config, worker_seconds,
    finished_utc), or None when it has none or it is not a JSON object."""
    path = Path(run_dir) / DONE_MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


def has_done_marker(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds a done marker (readable or not)."""
    return (Path(run_dir) / DONE_MARKER).is_file()


def is_done(run_dir: Path, config: dict | None = None) -> bool:
    """A run counts as finished when its marker and metrics log both exist
    (and, given ``config``, the marker records the same configuration once
    defaults are filled in, so {"device": "cpu"} equals {}; a changed one,
    e.g. more steps, is run again with resume)."""
    run_dir = Path(run_dir)
    if not (has_done_marker(run_dir) and (run_dir / "metrics.csv").is_file()):
        return False
    if config is None:
        return True
    done = (read_done_marker(run_dir) or {}).get("config")
    if not isinstance(done, dict):
        return False
    try:
        return TrainConfig.from_dict(done) == TrainConfig.from_dict(config)
    except ValueError:  # a marker from other code: only an exact match counts
        return done == config


def failed_flag(out_dir: Path, name: str) -> Path:
    """``_logs/<run>.failed``: why the run failed last time; while it exists
    ``restart_failed`` starts the run afresh."""
    return Path(out_dir) / "_logs" / f"{name}.failed"


def resumable_step(run_dir: str | Path) -> int | None:
    """The step a run in ``run_dir`` would resume from: that of its
    ``last.h5`` when it loads (checksums included), else None (no or an
    unusable checkpoint: the run starts from scratch)."""
    path = Path(run_dir) / LAST_CHECKPOINT
    if not path.is_file():
        return None
    try:
        return load_checkpoint(path).step
    except (CheckpointError, OSError):
        return None
