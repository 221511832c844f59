"""Run a grid of training configurations as separate, resumable runs.

A sweep is a list of *runs*: one configuration (a dict of TrainConfig
overrides) and one seed. Each run trains in its own Python process (so one
crash cannot take the others down, and each gets its share of BLAS threads),
``jobs`` at a time, into ``out_dir/<label>__seed<seed>/``. A run that
finished carries a ``sweep_done.json`` marker (written atomically after
``train`` returned) and is skipped on a rerun; an unfinished one resumes from
its ``last.h5``. The summary (one row per run, one row per configuration with
mean and spread over seeds) is read back from each run's ``metrics.csv``.

Layout of ``out_dir``::

    <label>__seed<k>/      the run directory train() writes, + sweep_done.json
    _specs/<run>.json      what the worker runs (label, seed, overrides)
    _logs/<run>.log        the worker's stdout and stderr
    summary.csv            one row per run
    summary_by_config.csv  one row per configuration (mean, std, min, max)
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from .atomic import atomic_write_text
from .config_file import TrainConfig, normalize_keys
from .sweep_results import (  # noqa: F401  (re-exported)
    DONE_MARKER, RunSummary, aggregate, is_done, read_metrics, summarize_run, summary_table,
)
from .tables import write_csv

@dataclasses.dataclass
class RunSpec:
    """One run of a sweep: a label (configuration name), a seed, overrides."""

    label: str
    seed: int
    overrides: dict

    @property
    def name(self) -> str:
        return f"{_safe(self.label)}__seed{self.seed}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", text).strip("_") or "run"


def default_label(config: dict) -> str:
    """A short name for a configuration: task set, mask, sparsity, N, extras.

    Example: ``{"task_set": "yang19", "mask": "locality", "sparsity": 0.04,
    "hidden": 256}`` -> ``"yang19_locality_s0.04_N256"``.
    """
    parts = [str(config[k]) for k in ("task_set", "mask") if k in config]
    if "sparsity" in config:
        parts.append(f"s{config['sparsity']:g}")
    if "hidden" in config:
        parts.append(f"N{config['hidden']}")
    parts += [f"{k}{config[k]}" for k in sorted(config)
              if k not in ("task_set", "mask", "sparsity", "hidden")]
    return "_".join(parts) or "default"


def expand_grid(grid: dict | None = None, configs: Iterable[dict] = (),
                seeds: Iterable[int] = (0,)) -> list[RunSpec]:
    """Turn a grid and/or explicit configurations into runs.

    Args:
        grid: dict key -> list of values (TrainConfig field names); the
            cartesian product is taken. A ``seed`` list here replaces
            ``seeds``.
        configs: explicit configurations (dicts of overrides), each optionally
            with a ``label``; added after the grid's.
        seeds: seeds every configuration is run with.
    Returns:
        list of RunSpec, seed-major (every configuration's seed 0 first), so
        a sweep stopped half-way has balanced partial results.
    Raises:
        ValueError: a grid value that is not a non-empty list, a bad seed, or
        two configurations with the same label.
    """
    grid = normalize_keys(grid or {})
    if "seed" in grid:
        seeds = grid.pop("seed")
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                            and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative integers, got {seeds!r}")
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"grid[{key!r}] must be a non-empty list, "
                             f"got {values!r}")
    keys = list(grid)
    cfgs = [dict(zip(keys, vals))
            for vals in itertools.product(*(grid[k] for k in keys))] if keys else []
    cfgs += [normalize_keys(c) for c in configs]
    if not cfgs:
        cfgs = [{}]
    labelled = []
    for cfg in cfgs:
        for key in ("seed", "out"):
            if key in cfg:
                raise ValueError(f"configuration {cfg!r} sets {key!r}; the "
                                 "sweep chooses seeds and run directories")
        label = str(cfg.pop("label", None) or default_label(cfg))
        labelled.append((label, cfg))
    names = [_safe(lab) for lab, _ in labelled]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two configurations share the label {dup[0]!r}; "
                         "give them distinct 'label' values")
    return [RunSpec(lab, int(s), cfg) for s in seeds for lab, cfg in labelled]


def validate_specs(specs: list[RunSpec], base: dict) -> None:
    """Build each run's TrainConfig once in this process, so a bad value
    (unknown key, sparsity 1.5, ...) fails before any worker starts."""
    for spec in specs:
        try:
            TrainConfig.from_dict({**base, **spec.overrides, "seed": spec.seed})
        except ValueError as exc:
            raise ValueError(f"configuration {spec.label!r}: {exc}") from None


def _worker_env(jobs: int) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, env.get("PYTHONPATH", "")) if p)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    return env


def run_worker(spec_path: str | Path) -> int:
    """Child-process entry: train one run described by a spec file.

    The spec JSON holds ``run_dir``, ``label``, ``seed``, ``config`` (the
    TrainConfig overrides) and ``restart``. An existing run directory is
    resumed (or, when it has no ``last.h5``, started afresh), or wiped and
    started again when ``restart`` is true. Returns an exit status.
    """
    from .training import train
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    run_dir = Path(spec["run_dir"])
    t0 = time.time()
    # a directory without last.h5 (a run that failed before its first save) restarts
    restart = (bool(spec.get("restart")) or not (run_dir / "last.h5").is_file()) \
        and run_dir.exists()
    train(resume=run_dir.exists() and not restart, force=restart, quiet=True,
          **dict(spec["config"], seed=spec["seed"], out=str(run_dir)))
    atomic_write_text(run_dir / DONE_MARKER, json.dumps({
        "label": spec["label"], "seed": spec["seed"], "config": spec["config"],
        "worker_seconds": round(time.time() - t0, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2))
    return 0


def prebuild_caches(specs: list[RunSpec], base: dict,
                    say: Callable[[str], None]) -> None:
    """Build each distinct trial cache once, before the workers start, so
    parallel runs do not all generate the same trials at the same time."""
    from . import cache as C
    seen = set()
    for spec in specs:
        cfg = TrainConfig.from_dict({**base, **spec.overrides}).resolved()
        args, kw = cfg.cache_request()
        path = (Path(cfg.cache_path) if cfg.cache_path
                else C.default_cache_path(*args, **kw))
        if path in seen or path.exists():
            continue
        seen.add(path)
        say(f"building trial cache {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            C.build_cache(*args, path=path, **kw)
        except (OSError, ValueError) as exc:  # the run itself will report it
            say(f"could not build {path}: {exc}")


def _failed_flag(out_dir: Path, spec: RunSpec) -> Path:
    return out_dir / "_logs" / f"{spec.name}.failed"


def _launch(spec: RunSpec, run_dir: Path, out_dir: Path, base: dict,
            env: dict, timeout: float | None, restart: bool) -> str | None:
    """Run one spec in a child process; return None on success, else why."""
    spec_file = out_dir / "_specs" / f"{spec.name}.json"
    log_file = out_dir / "_logs" / f"{spec.name}.log"
    atomic_write_text(spec_file, json.dumps({
        "run_dir": str(run_dir), "label": spec.label, "seed": spec.seed,
        "config": {**base, **spec.overrides}, "restart": restart,
    }, indent=2))
    code = ("import sys; from refrnn.sweep import run_worker; "
            "sys.exit(run_worker(sys.argv[1]))")
    with open(log_file, "ab") as log:
        try:
            proc = subprocess.run([sys.executable, "-c", code, str(spec_file)],
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
          prebuild: bool = True,
          echo: Callable[[str], None] | None = None) -> list[RunSummary]:
    """Train every (configuration, seed) of a grid, ``jobs`` at a time.

    Args:
        grid: dict TrainConfig field -> list of values (cartesian product).
        out_dir: sweep folder (created); rerunning on it skips finished runs
            and resumes unfinished ones.
        configs: extra explicit configurations (dicts, optional ``label``).
        seeds: seeds for every configuration.
        base: settings shared by every run (overridden by grid/configs).
        jobs: runs at the same time (local processes); >= 1.
        timeout: seconds allowed to one run (None = no limit).
        restart_failed: start runs that failed last time afresh instead of
            resuming them (e.g. after a fix for a diverging configuration).
        prebuild: build missing trial caches in this process first.
        echo: called with one progress line per finished run.
    Returns:
        list of RunSummary, one per run, in run order; failed runs have
        ``status="failed"`` and ``error`` set. Also writes ``summary.csv`` and
        ``summary_by_config.csv`` into ``out_dir``.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    base = normalize_keys(base or {})
    for key in ("seed", "out"):
        if key in base:
            raise ValueError(f"base settings must not set {key!r}")
    specs = expand_grid(grid, configs, seeds)
    validate_specs(specs, base)
    out_dir = Path(out_dir)
    for sub in ("_specs", "_logs"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    env = _worker_env(jobs)
    say = echo or (lambda line: None)
    errors: dict[str, str | None] = {}
    todo = [s for s in specs
            if not is_done(out_dir / s.name, {**base, **s.overrides})]
    for s in specs:
        if s not in todo:
            say(f"skip  {s.name} (finished earlier)")
    if prebuild:
        prebuild_caches(todo, base, say)
    count = itertools.count(1)

    def job(spec: RunSpec):
        t0 = time.time()
        flag = _failed_flag(out_dir, spec)
        err = _launch(spec, out_dir / spec.name, out_dir, base, env, timeout,
                      restart=restart_failed and flag.exists())
        errors[spec.name] = err
        if err:
            atomic_write_text(flag, err + "\n")
        elif flag.exists():
            flag.unlink()
        state = "FAILED " + err if err else "done"
        say(f"[{next(count)}/{len(todo)}] {spec.name}: {state} "
            f"({time.time() - t0:.0f} s)")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(job, todo))
    rows = [summarize_run(out_dir / s.name, s.label, s.seed,
                          error=errors.get(s.name)) for s in specs]
    write_csv(out_dir / "summary.csv", [r.as_dict() for r in rows])
    write_csv(out_dir / "summary_by_config.csv", aggregate(rows))
    return rows
