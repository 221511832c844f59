"""Run a grid of training configurations as separate, resumable runs.

A sweep is a list of *runs*: one configuration (a dict of TrainConfig
overrides) and one seed. Each run trains in its own Python process (so one
crash cannot take the others down, and each gets its share of BLAS threads),
``jobs`` at a time, into ``out_dir/<label>__seed<seed>/``. A run that
finished carries a ``sweep_done.json`` marker (written atomically after
``train`` returned) and is skipped on a rerun; an unfinished one resumes from
its ``last.h5``. What one run does (train, marker, failed flag) is
:mod:`refrnn.experiments.one_run`, shared with the dask tasks. The summary (one row per run, one row per configuration with
mean and spread over seeds) is read back from each run's ``metrics.csv``.
With ``scheduler=`` the runs go to a dask.distributed cluster instead, one
task per run (:mod:`refrnn.experiments.dask_client`); everything else is the same.

Layout of ``out_dir``::

    <label>__seed<k>/      the run directory train() writes, + sweep_done.json
    _specs/<run>.json      what the worker runs (label, seed, overrides)
    _specs/<run>.lock      held by the sweep process that trains the run: two
                           sweeps of one folder share the runs, and wait for
                           each other's at the end (a dead sweep's is free)
    _logs/<run>.log        the worker's stdout and stderr (dask: one line
                           per attempt: worker, resumed step, outcome)
    _logs/<run>.failed     why the run failed last time (gone once it succeeds)
    summary.csv            one row per run
    summary_by_config.csv  one row per configuration (mean, std, min, max)
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from ..data.cache import build_cache, default_cache_path
from ..files.atomic import atomic_write_text
from ..files.errors import make_folder
from ..files.locks import LockError, hold_lock
from ..files.ownership import check_replaceable
from ..files.tables import is_table_starting, write_csv
from ..run.settings import TrainConfig, normalize_keys
from .dask_client import DaskSession, import_distributed
from .grid import RunSpec, expand_grid, validate_specs
from .one_run import failed_flag, is_done, run_spec
from .summary import RunSummary, aggregate, summarize_run
from .run_guard import earlier_rows, label_suffix


# the summaries a sweep writes into its folder, and their first columns
SUMMARIES = {"summary.csv": ("label", "seed"), "summary_by_config.csv": ("label", "n_seeds")}


def _worker_env(jobs: int) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, env.get("PYTHONPATH", "")) if p)
    # one count for refrnn's workers and every BLAS variable the user left unset: the
    # user's REFRNN_THREADS, else this job's share of the cores
    threads = env.get("REFRNN_THREADS") or str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "REFRNN_THREADS"):
        env.setdefault(var, threads)
    return env


def prebuild_caches(specs: list[RunSpec], base: dict,
                    say: Callable[[str], None]) -> None:
    """Build each distinct trial cache once, before the workers start, so
    parallel runs do not all generate the same trials at the same time."""
    seen = set()
    for spec in specs:
        cfg = TrainConfig.from_dict({**base, **spec.overrides}).resolved()
        args, kw = cfg.cache_request()
        path = (Path(cfg.cache_path) if cfg.cache_path
                else default_cache_path(*args, **kw))
        if path in seen or path.exists():
            continue
        seen.add(path)
        say(f"building trial cache {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            build_cache(*args, path=path, **kw)
        except (OSError, ValueError) as exc:  # the run itself will report it
            say(f"could not build {path}: {exc}")


def _launch(spec: RunSpec, run_dir: Path, out_dir: Path, base: dict,
            env: dict, timeout: float | None, restart: bool) -> str | None:
    """Run one spec in a child process; return None on success, else why.

    The child gets this process's pid and stops (as on Ctrl-C: last.h5 saved)
    when this process is gone (:func:`refrnn.experiments.one_run.run_worker`),
    so killing a sweep, even with kill -9, leaves no worker training on."""
    spec_file = out_dir / "_specs" / f"{spec.name}.json"
    log_file = out_dir / "_logs" / f"{spec.name}.log"
    atomic_write_text(spec_file, json.dumps(
        run_spec(spec, out_dir, base, restart), indent=2))
    code = ("import sys; from refrnn.experiments.one_run import run_worker; "
            "sys.exit(run_worker(sys.argv[1], int(sys.argv[2])))")
    make_folder(log_file.parent)
    with open(log_file, "ab") as log:
        try:
            proc = subprocess.run([sys.executable, "-c", code, str(spec_file),
                                   str(os.getpid())],
                                  stdout=log, stderr=subprocess.STDOUT,
                                  env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout} s (log: {log_file})"
    if proc.returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace")
        last = [ln for ln in tail.strip().splitlines() if ln.strip()][-1:] or [""]
        return f"exit code {proc.returncode}: {last[0][:200]} (log: {log_file})"
    if not is_done(run_dir):
        return f"finished without metrics.csv or marker (log: {log_file})"
    return None


def sweep(grid: dict | None = None, out_dir: str | Path = "runs/sweep", *,
          configs: Iterable[dict] = (), seeds: Iterable[int] = (0,),
          base: dict | None = None, jobs: int = 1,
          timeout: float | None = None, restart_failed: bool = False,
          prebuild: bool = True, scheduler: str | None = None,
          retries: int = 2, connect_timeout: float = 20.0,
          echo: Callable[[str], None] | None = None,
          label_settings: dict | None = None) -> list[RunSummary]:
    """Train every (configuration, seed) of a grid, ``jobs`` at a time.

    Args:
        grid: dict TrainConfig field -> list of values (cartesian product).
        out_dir: sweep folder (created); rerunning on it skips finished runs
            and resumes unfinished ones.
        configs: extra explicit configurations (dicts, optional ``label``).
        seeds: seeds for every configuration.
        base: settings shared by every run (overridden by grid/configs).
        jobs: runs at the same time (local processes, or the workers of
            ``scheduler="local"``); >= 1.
        timeout: seconds allowed to one run (None = no limit).
        restart_failed: start runs that failed last time afresh instead of
            resuming them (e.g. after a fix for a diverging configuration).
        prebuild: build missing trial caches in this process first.
        scheduler: None (local processes), ``"local"`` (a dask LocalCluster
            of ``jobs`` workers) or a dask scheduler address
            ``tcp://host:port``; see :mod:`refrnn.experiments.dask_client` (needs the
            ``dist`` extra).
        retries: dask only: times a run is resubmitted after an unexpected
            error (not after a failure of the run itself, e.g. NaN loss).
        connect_timeout: dask only: seconds to wait for the scheduler and
            for its first worker.
        echo: called with one progress line per finished run.
        label_settings: settings of ``base`` that also name the runs (the CLI's
            ``--set`` values), so runs of other settings never share a folder.
    Returns:
        list of RunSummary, one per run, in run order; failed runs have
        ``status="failed"`` and ``error`` set. Also writes ``summary.csv`` and
        ``summary_by_config.csv`` into ``out_dir``.
    Raises:
        ValueError: bad settings; with a scheduler also
        :class:`refrnn.experiments.dask_client.DistSweepError` (a ValueError) when dask is
        missing, the scheduler cannot be reached or a worker cannot serve.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    base = normalize_keys(base or {})
    for key in ("seed", "out"):
        if key in base:
            raise ValueError(f"base settings must not set {key!r}")
    specs = expand_grid(grid, configs, seeds)
    suffix = label_suffix(normalize_keys(label_settings or {}))
    if suffix:
        specs = [RunSpec(f"{s.label}_{suffix}", s.seed, s.overrides) for s in specs]
    validate_specs(specs, base)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if scheduler is not None:  # fail on a missing extra before writing anything
        import_distributed()
    out_dir = Path(out_dir)
    for name, cols in SUMMARIES.items():  # a user's file there: refused before any run
        check_replaceable(out_dir / name, f"a sweep summary ({','.join(cols)},...)",
                          lambda p, c=cols: is_table_starting(p, c))
    made = [d for d in (out_dir, *out_dir.parents) if not d.exists()]
    session = None
    try:
        for sub in ("_specs", "_logs"):  # removed again at the end when still empty
            make_folder(out_dir / sub)
        if scheduler is not None:  # connect and check workers before building caches
            session = DaskSession(out_dir, scheduler, jobs, connect_timeout)
        return _sweep(specs, out_dir, base, jobs, timeout, restart_failed, prebuild,
                      session, retries, echo or (lambda line: None))
    finally:
        if session is not None:
            session.close()
        _remove_empty(out_dir, made)


def _remove_empty(out_dir: Path, made: list) -> None:
    """Remove _specs/ and _logs/ when empty, and the folders the sweep made when
    nothing is left in them (a failed start leaves no empty folder behind)."""
    for folder in [out_dir / "_specs", out_dir / "_logs", *made]:
        try:
            folder.rmdir()  # only an empty folder: anything in it stays
        except OSError:
            pass


def _sweep(specs, out_dir, base, jobs, timeout, restart_failed, prebuild, session,
           retries, say) -> list[RunSummary]:
    """sweep()'s body once the runs are validated and the dask session (if
    any) is open: skip finished runs, build caches, train, summarise."""
    errors: dict[str, str | None] = {}
    todo = [s for s in specs
            if not is_done(out_dir / s.name, {**base, **s.overrides})]
    for s in specs:
        if s not in todo:
            say(f"skip  {s.name} (finished earlier)")
    if prebuild:
        prebuild_caches(todo, base, say)
    restart = {s.name: restart_failed and failed_flag(out_dir, s.name).exists()
               for s in todo}
    count = itertools.count(1)

    def record(name: str, err: str | None, seconds: float, note: str = ""):
        """One run ended: remember why, keep its .failed flag, say so."""
        errors[name] = err
        flag = failed_flag(out_dir, name)
        if err:
            atomic_write_text(flag, err + "\n")
        elif flag.exists():
            flag.unlink()
        state = "FAILED " + err if err else "done"
        say(f"[{next(count)}/{len(todo)}] {name}: {state} ({seconds:.0f} s{note})")

    if session is None:
        env = _worker_env(jobs)
        busy: list[RunSpec] = []  # runs another sweep of this folder holds: waited for last

        def job(spec: RunSpec, wait: bool = False):
            t0, config = time.time(), {**base, **spec.overrides}
            try:  # one sweep process per run at a time (the kernel frees a dead one's claim)
                with hold_lock(out_dir / "_specs" / f"{spec.name}.lock",
                               f"sweep run {out_dir / spec.name}", wait=wait):
                    if is_done(out_dir / spec.name, config):  # another sweep finished it
                        record(spec.name, None, time.time() - t0, ", finished by another sweep")
                        return
                    err = _launch(spec, out_dir / spec.name, out_dir, base, env, timeout,
                                  restart=restart[spec.name])
                    if err and is_done(out_dir / spec.name, config):
                        err = None  # finished after all: never recorded as failed
            except LockError:
                busy.append(spec)
                return
            record(spec.name, err, time.time() - t0)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(job, todo))
            if busy:
                say(f"waiting for {len(busy)} run(s) that another sweep of {out_dir} trains")
                list(pool.map(lambda s: job(s, wait=True), list(busy)))
    elif todo:
        session.run([(s.name, run_spec(s, out_dir.resolve(), base, restart[s.name]))
                     for s in todo], record=record, say=say, timeout=timeout,
                    retries=retries)
    rows = [summarize_run(out_dir / s.name, s.label, s.seed,
                          error=errors.get(s.name)) for s in specs]
    every = earlier_rows(out_dir, rows, summarize_run) + rows  # earlier invocations' runs stay listed
    write_csv(out_dir / "summary.csv", [r.as_dict() for r in every])
    write_csv(out_dir / "summary_by_config.csv", aggregate(every))
    return rows
