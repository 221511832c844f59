"""What a dask worker runs for a distributed sweep (:mod:`refrnn.experiments.dask_client`).

One run of a sweep is one task, :func:`run_task`: it trains the run into its
directory in the worker's own thread (resuming from ``last.h5`` when one is
there) and returns a small record. A failure of the run itself (bad setting,
NaN loss, unreadable cache or checkpoint, timeout) is caught and returned as
a failed record, so dask does not retry it; anything else (a lost worker, an
OSError of the storage, MemoryError) is left to dask's own retries.

Nothing here imports dask at module level: the functions also run (and are
tested) without a cluster. The run itself (training, its done marker and
failed flag) is :mod:`refrnn.experiments.one_run`, as for a local sweep.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

from ..run.training import TrainingDiverged
from .one_run import failed_flag, resumable_step, train_run

PROBE_DIR = "_probe"


def refrnn_version() -> str:
    """The version of the refrnn this process runs (``refrnn.__version__``).

    Read from the loaded package, not imported: importing this module has run
    refrnn/__init__.py already, and experiments/ sits below the package's
    public surface in the layer rule (docs/architecture.md).
    """
    return str(sys.modules["refrnn"].__version__)


class RunStopped(RuntimeError):
    """The run was stopped from outside (timeout, sweep cancelled); its last
    checkpoint is kept, so it resumes later."""


def worker_name() -> str:
    """The dask worker's address, else ``host:pid``."""
    try:
        from distributed import get_worker
        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def probe_storage(out_dir: str, token_file: str, token: str) -> dict:
    """Check that this process sees the sweep folder the client wrote to.

    Reads ``out_dir/token_file`` (must hold ``token``), then writes, reads
    back and keeps ``out_dir/_probe/<host>-<pid>-<random>.txt`` for the
    client to read. Returns ``{"host", "file", "error"}``: ``file`` is the
    probe file's name under ``_probe/`` (None on error), ``error`` None or
    why the folder is not usable here.
    """
    host = socket.gethostname()
    out = {"host": host, "file": None, "error": None}
    folder = Path(out_dir)
    try:
        seen = (folder / token_file).read_text(encoding="utf-8")
    except OSError as exc:
        seen = f"<{exc.strerror or exc}>"
    if seen != token:
        out["error"] = (f"does not see the client's file {str(folder / token_file)!r} "
                        f"(read {seen[:60]!r}): the sweep folder {str(folder)!r} must be "
                        "on storage every worker sees, under the same path")
        return out
    name = f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}.txt"
    mine = f"{host} {os.getpid()} {uuid.uuid4().hex}"
    path = folder / PROBE_DIR / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mine, encoding="utf-8")
        back = path.read_text(encoding="utf-8")
    except OSError as exc:
        out["error"] = f"cannot write and read {str(path)!r}: {exc}"
        return out
    if back != mine:
        out["error"] = f"read back other content from {str(path)!r}"
        return out
    out["file"] = name
    return out


def _task_released() -> bool:
    """True once the scheduler has let go of the task running in this thread
    (the sweep was cancelled, or its client went away). dask cannot stop a
    running thread, so the run polls this and stops itself."""
    try:
        from distributed import get_worker
        worker = get_worker()
        ts = worker.state.tasks.get(worker.get_current_task())
    except (ImportError, ValueError, AttributeError, KeyError):
        return False
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


class _Watch:
    """train() callback: stops the run on its timeout or a cancelled task.

    Raising from the callback is safe: it runs after the update's files were
    written, and the run resumes from its last ``last.h5``.
    """

    def __init__(self, timeout: float | None, poll_s: float = 0.5):
        self.t0, self.timeout, self.poll_s = time.time(), timeout, poll_s
        self.next_poll = self.t0 + poll_s

    def __call__(self, info: dict) -> None:
        now = time.time()
        if self.timeout is not None and now - self.t0 > self.timeout:
            raise RunStopped(f"timed out after {self.timeout:g} s at step "
                             f"{info['step']}; resumable from last.h5")
        if now >= self.next_poll:
            self.next_poll = now + self.poll_s
            if _task_released():
                raise RunStopped(f"cancelled at step {info['step']}")


def _log(out_dir: Path, name: str, line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(out_dir / "_logs" / f"{name}.log", "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {line}\n")


def run_task(name: str, spec: dict, version: str, token_file: str, token: str,
             timeout: float | None = None) -> dict:
    """Train one sweep run on this worker (see the module docstring).

    Args:
        name: the run's name (its directory under the sweep folder).
        spec: :func:`refrnn.experiments.one_run.run_spec`'s dict (run_dir, label, seed,
            config, restart).
        version: the client's refrnn version; another one here fails the run.
        token_file, token: the client's probe file (relative to the sweep
            folder) and its content; not seeing it fails the run.
        timeout: seconds allowed to this attempt (None = no limit).
    Returns:
        dict with ``name``, ``worker``, ``error`` (None when the run finished),
        ``resumed_from`` (checkpoint step it started from, or None) and
        ``seconds`` (this attempt's wall time).
    """
    t0 = time.time()
    run_dir = Path(spec["run_dir"])
    out_dir = run_dir.parent
    rec = {"name": name, "worker": worker_name(), "error": None,
           "resumed_from": None, "seconds": 0.0}
    mine = refrnn_version()
    if version != mine:
        rec["error"] = (f"worker {rec['worker']} has refrnn {mine}, the "
                        f"client {version}; install the same version everywhere")
        return rec
    if not (out_dir / token_file).is_file():
        rec["error"] = (f"worker {rec['worker']} does not see "
                        f"{str(out_dir / token_file)!r}: the sweep folder must be on "
                        "storage every worker sees, under the same path")
        return rec
    if spec.get("restart"):
        # restart_failed: the first attempt starts afresh and takes the flag
        # away, so a retry after a lost worker resumes what it trained
        flag = failed_flag(out_dir, name)
        if flag.exists():
            flag.unlink()
        else:
            spec = {**spec, "restart": False}
    if not spec.get("restart"):
        rec["resumed_from"] = resumable_step(run_dir)
    start = ("from scratch" if rec["resumed_from"] is None
             else f"resuming from step {rec['resumed_from']}")
    _log(out_dir, name, f"attempt on {rec['worker']} (pid {os.getpid()}), {start}")
    try:
        train_run(spec, callback=_Watch(timeout))
    except (ValueError, ArithmeticError, TrainingDiverged, RunStopped) as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # left to dask's retries; say so in the log
        _log(out_dir, name, f"error on {rec['worker']}: {type(exc).__name__}: {exc}")
        raise
    rec["seconds"] = round(time.time() - t0, 3)
    _log(out_dir, name, f"{'FAILED ' + rec['error'] if rec['error'] else 'done'} "
                        f"on {rec['worker']} after {rec['seconds']:.1f} s")
    return rec
