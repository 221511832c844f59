"""Send a sweep's runs to a dask.distributed cluster (the ``dist`` extra).

:func:`refrnn.experiments.sweep.sweep` opens a :class:`DaskSession` when given
``scheduler=``: ``"local"`` starts a LocalCluster of ``jobs`` single-threaded
worker processes on this machine; ``tcp://host:port`` connects to a running
scheduler (``dask scheduler`` and ``dask worker`` by hand, or dask-jobqueue).
Before anything is submitted every connected worker must import the same
refrnn version as this client and pass a storage probe of the sweep folder
(it reads a file the client wrote and writes one the client reads back), so
a worker that would write its runs somewhere nobody sees is caught first.

:class:`DaskSession` holds the connection. Each run is one task
(:func:`refrnn.experiments.dask_worker.run_task`) that trains in its run directory and
resumes from its ``last.h5``. Failures:

- a worker lost mid-run (killed, out of memory, node gone): the scheduler
  runs the task again on another worker (up to dask's
  ``distributed.scheduler.allowed-failures``, 3 by default), which resumes
  from the last checkpoint; the run ends bit-identical to an uninterrupted
  one (train's seeding makes every update's draws depend on its step only).
- the run fails by itself (bad setting, NaN loss, timeout): a failed record,
  no retry; the sweep goes on.
- any other exception in the task: resubmitted ``retries`` times, then failed.
- Ctrl-C: the sweep's tasks are cancelled; running ones stop at their next
  update (:mod:`refrnn.experiments.dask_worker` polls), keeping ``last.h5``.

dask is imported lazily: without the extra, nothing here is loaded unless a
scheduler is asked for, and then :class:`DistSweepError` says what to install.
"""
from __future__ import annotations

import importlib
import time
import uuid
from pathlib import Path
from typing import Callable

from ..files.atomic import atomic_write_text
from .dask_worker import PROBE_DIR, probe_storage, refrnn_version, run_task

INSTALL_HINT = "pip install 'refrnn[dist]'"


class DistSweepError(ValueError):
    """dask is missing, the scheduler cannot be reached, or a worker cannot
    serve this sweep (another refrnn, no refrnn, a sweep folder it does not
    see). The message names the address, worker and path."""


def import_distributed():
    """The ``distributed`` module, or DistSweepError naming the extra."""
    try:
        import distributed
    except ImportError as exc:
        raise DistSweepError(f"a dask scheduler needs dask.distributed, which is not "
                             f"installed ({exc}); install the dist extra: "
                             f"{INSTALL_HINT}") from None
    return distributed


def connect(scheduler: str, jobs: int, timeout: float):
    """(client, cluster or None): a LocalCluster of ``jobs`` single-threaded
    workers for ``"local"``, else a client of the scheduler at the address,
    waiting at most ``timeout`` s for it and for one worker."""
    distributed = import_distributed()
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise DistSweepError(f"scheduler must be 'local' or an address like "
                             f"tcp://host:8786, got {scheduler!r}")
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        return distributed.Client(cluster), cluster
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, ValueError, TypeError) as exc:
        raise DistSweepError(f"cannot reach the dask scheduler at {scheduler!r} "
                             f"within {timeout:g} s: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        client.close()
        raise DistSweepError(f"no dask worker joined the scheduler at {scheduler!r} "
                             f"within {timeout:g} s ({exc}); start some with "
                             f"`dask worker {scheduler} --nthreads 1`") from None
    return client, None


def check_workers(client, out_dir: Path, version: str) -> tuple[str, str, list]:
    """Check every connected worker; return (token_file, token, workers).

    Raises DistSweepError naming each worker that has no refrnn, another
    version, or cannot see / write the sweep folder ``out_dir``.
    """
    def probe_version():  # defined here so dask ships it by value: it must
        try:              # run on workers where refrnn does not import
            # a probe of the worker's environment, not a dependency of this module
            found = importlib.import_module("refrnn")
            return str(getattr(found, "__version__", "unknown"))
        except Exception as exc:  # noqa: BLE001 - any import failure is the answer
            return f"none (import refrnn failed: {type(exc).__name__}: {exc})"

    found = client.run(probe_version, on_error="return")
    bad = [f"worker {addr} has refrnn {v}, this client {version}"
           for addr, v in sorted(found.items()) if v != version]
    if bad:
        raise DistSweepError("; ".join(bad) + "; install the same refrnn on every "
                             f"worker (pip install refrnn=={version})")
    token_file = f"{PROBE_DIR}/client-{uuid.uuid4().hex[:12]}.txt"
    token = uuid.uuid4().hex
    atomic_write_text(out_dir / token_file, token)
    found = client.run(probe_storage, str(out_dir), token_file, token,
                       on_error="return")
    bad = []
    for addr, res in sorted(found.items()):
        if isinstance(res, BaseException):
            bad.append(f"worker {addr}: probe failed: {type(res).__name__}: {res}")
        elif res["error"]:
            bad.append(f"worker {addr} ({res['host']}) {res['error']}")
        elif not (out_dir / PROBE_DIR / res["file"]).is_file():
            bad.append(f"worker {addr} ({res['host']}) wrote {res['file']} into "
                       f"{str(out_dir)!r} but this client does not see it: the "
                       "sweep folder must be on storage every worker sees")
        else:
            (out_dir / PROBE_DIR / res["file"]).unlink()
    if bad:
        raise DistSweepError("; ".join(bad))
    return token_file, token, sorted(found)


def _status(done: int, failed: int, running: int, total: int, t0: float) -> str:
    ended = done + failed
    eta = "?"
    if ended:
        left = (time.time() - t0) / ended * (total - ended)
        eta = f"{left / 60:.1f} min" if left >= 90 else f"{left:.0f} s"
    return (f"sweep: {done} done, {running} running, {failed} failed, "
            f"{total} total; ETA {eta}")


def _outcome(future) -> dict:
    """The task's record; a task that erred (retries spent, worker lost too
    often) or was cancelled becomes a failed record."""
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        return {"error": "cancelled", "seconds": 0.0}
    exc = future.exception()
    return {"error": f"{type(exc).__name__}: {exc}", "seconds": 0.0}


class DaskSession:
    """A connection to a dask cluster that passed :func:`check_workers`.

    ``DaskSession(out_dir, scheduler, jobs, connect_timeout)`` connects (see
    :func:`connect`) and checks every worker against ``out_dir``; it raises
    DistSweepError (after closing what it opened) when they cannot serve.
    Then :meth:`run` trains runs; :meth:`close` (or ``with``) lets go of the
    client, the LocalCluster and the probe file.
    """

    def __init__(self, out_dir: Path, scheduler: str, jobs: int = 1,
                 connect_timeout: float = 20.0):
        self.distributed = import_distributed()
        self.version = refrnn_version()
        self.out_dir = Path(out_dir).resolve()
        self.client, self.cluster = connect(scheduler, jobs, connect_timeout)
        self.token_file = None
        try:
            self.token_file, self.token, self.workers = check_workers(
                self.client, self.out_dir, self.version)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.token_file:
            (self.out_dir / self.token_file).unlink(missing_ok=True)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def run(self, items: list, *, record: Callable[..., None],
            say: Callable[[str], None], timeout: float | None = None,
            retries: int = 2, status_every: float = 30.0) -> None:
        """Train the runs ``items`` (list of (name, run spec dict)), one task each.

        Calls ``record(name, error or None, seconds, note)`` as each run
        ends, ``say`` with a status line (done / running / failed / total,
        ETA) after each and every ``status_every`` seconds. On Ctrl-C it
        cancels the tasks (running ones stop at their next update, keeping
        ``last.h5``) and re-raises KeyboardInterrupt.
        """
        client, futures = self.client, {}
        say(f"dask: {len(self.workers)} worker(s) at {client.scheduler.address}; "
            f"{len(items)} run(s) to train")
        tag = uuid.uuid4().hex[:8]
        try:
            for name, spec in items:
                fut = client.submit(run_task, name, spec, self.version, self.token_file,
                                    self.token, timeout, key=f"refrnn-{name}-{tag}",
                                    pure=False, retries=retries)
                futures[fut] = name
            _collect(self.distributed, client, futures, record, say, status_every)
        except KeyboardInterrupt:
            client.cancel(list(futures))
            say(f"cancelled {len(futures)} task(s); the runs keep their last.h5: "
                "rerun the same command to resume")
            raise


def _collect(distributed, client, futures: dict, record, say, status_every) -> None:
    t0 = time.time()
    total, done, failed = len(futures), 0, 0
    keys = {f.key for f in futures}
    pending = set(futures)

    def running() -> int:
        """Tasks on workers, capped at their threads (dask queues a few more
        on a worker than it has threads)."""
        try:
            busy = client.processing()
            threads = sum(client.nthreads().values())
        except (OSError, TimeoutError):
            return 0
        return min(threads, sum(k in keys for ks in busy.values() for k in ks))

    while pending:
        try:
            finished, pending = distributed.wait(pending, timeout=status_every,
                                                 return_when="FIRST_COMPLETED")
        except TimeoutError:
            say(_status(done, failed, running(), total, t0))
            continue
        for fut in finished:
            rec = _outcome(fut)
            note = ""
            if rec.get("worker"):
                note = f" on {rec['worker']}"
            if rec.get("resumed_from") is not None:
                note += f", resumed from step {rec['resumed_from']}"
            if rec["error"]:
                failed += 1
            else:
                done += 1
            record(futures[fut], rec["error"], rec["seconds"], note)
        say(_status(done, failed, running(), total, t0))
