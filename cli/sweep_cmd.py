"""`refrnn sweep`: train a grid of configurations, several runs at a time."""
from __future__ import annotations

import json
from pathlib import Path

import click

from refrnn.experiments.dask_client import DistSweepError
from refrnn.experiments.grid import RunSpec, expand_grid, validate_specs
from refrnn.experiments.run_guard import label_suffix
from refrnn.experiments.summary import aggregate, summary_table
from refrnn.experiments.sweep import sweep
from refrnn.run.settings import load_config_file, normalize_keys

from .options import setting_option, setting_options

GRID_FILE_KEYS = {"base", "grid", "configs", "seeds"}
GRID_OPTIONS = ("task_set", "mask", "sparsity", "hidden")  # repeatable: one grid axis each
BASE_OPTIONS = ("steps", "eval_every", "batch_size", "device")  # the same for every run


def _load_settings(path: str, what: str) -> dict:
    """Read a JSON object from ``path``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=what)
    except RecursionError:
        raise click.BadParameter(f"{path} is nested too deeply to be a settings file",
                                 param_hint=what) from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold an object", param_hint=what)
    return data


def _parse_set(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@click.command("sweep")
@setting_option("task_set", multiple=True, extra_help="Repeatable: one grid axis.")
@setting_option("mask", multiple=True, extra_help="Repeatable: one grid axis.")
@setting_option("sparsity", multiple=True, extra_help="Repeatable: one grid axis.")
@setting_option("hidden", multiple=True, extra_help="Repeatable: one grid axis.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="How many runs per configuration: train's --seed 0, 1, ..., SEEDS-1 "
                   "(a --grid file's \"seeds\" list otherwise).  [default: 1]")
@setting_options(*BASE_OPTIONS)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any other TrainConfig setting for every run (JSON value).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Base settings for every run (JSON or TOML).")
@click.option("--grid", "grid_file", type=click.Path(exists=True, dir_okay=False),
              help='JSON: {"base": {..}, "grid": {key: [..]}, '
                   '"configs": [{"label": .., ..}], "seeds": [..]}.')
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs trained at the same time (local processes, or the "
                   "workers of --scheduler local).")
@click.option("--scheduler", default=None, metavar="ADDRESS|local",
              help="Send every run to a dask cluster: a scheduler address "
                   "(tcp://host:8786) or 'local' for a LocalCluster of --jobs "
                   "workers. Needs refrnn[dist]; see docs/distributed.md.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="With --scheduler: resubmissions after an unexpected error "
                   "(a run's own failure, e.g. NaN loss, is never retried).")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=20.0,
              show_default=True,
              help="With --scheduler: seconds to wait for the scheduler and a worker.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds allowed to one run.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Sweep folder; rerunning skips finished runs.")
@click.option("--restart-failed", is_flag=True,
              help="Start runs that failed last time afresh (default: resume).")
@click.option("--dry-run", is_flag=True, help="List the runs and stop.")
def sweep_cmd(seeds, sets, config_file, grid_file, jobs, scheduler, retries,
              connect_timeout, timeout, out, restart_failed, dry_run, **options):
    """Train every configuration x seed as a separate, resumable run and
    print the summary (final mean perf, steps to 80%/90%, wall time).

    A configuration is one value of each grid option (all combinations of
    the values given); settings not given are TrainConfig's defaults
    (`refrnn train --help`), so with no grid option and no --grid file the
    sweep is the one default configuration ("default")."""
    spec = _load_settings(grid_file, "--grid") if grid_file else {}
    unknown = sorted(set(spec) - GRID_FILE_KEYS)
    if unknown:
        raise click.BadParameter(f"unknown key {unknown[0]!r}; allowed: "
                                 f"{sorted(GRID_FILE_KEYS)}", param_hint="--grid")
    try:
        base = normalize_keys(load_config_file(config_file)) if config_file else {}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--config")
    try:
        base.update(normalize_keys(spec.get("base", {})))
        grid = normalize_keys(spec.get("grid", {}))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid")
    base.update({k: options[k] for k in BASE_OPTIONS if options[k] is not None})
    set_values = normalize_keys(_parse_set(sets))
    base.update(set_values)
    for key in GRID_OPTIONS:
        if options[key]:
            grid[key] = list(options[key])
    configs = spec.get("configs", [])
    run_seeds = list(range(seeds)) if seeds else spec.get("seeds", [0])
    try:
        if dry_run:
            suffix = label_suffix(set_values)
            specs = [RunSpec(f"{s.label}_{suffix}", s.seed, s.overrides) if suffix else s
                     for s in expand_grid(grid, configs, run_seeds)]
            validate_specs(specs, base)  # a bad --set key or value: refused as a real sweep
            for s in specs:
                click.echo(f"{s.name}: {json.dumps({**base, **s.overrides})}")
            return
        rows = sweep(grid, out, configs=configs, seeds=run_seeds, base=base,
                     jobs=jobs, timeout=timeout, restart_failed=restart_failed,
                     scheduler=scheduler, retries=retries,
                     connect_timeout=connect_timeout, echo=click.echo,
                     label_settings=set_values)
    except DistSweepError as exc:
        raise click.BadParameter(str(exc), param_hint="--scheduler")
    except ValueError as exc:
        raise click.UsageError(str(exc))
    click.echo("")
    click.echo(summary_table(aggregate(rows)))
    click.echo(f"\nper-run rows: {Path(out) / 'summary.csv'}; per configuration: "
               f"{Path(out) / 'summary_by_config.csv'}")
    failed = [r for r in rows if r.status != "done"]
    if failed:
        for r in failed:
            click.echo(f"FAILED {Path(r.run_dir).name}: {r.error}", err=True)
        raise click.ClickException(f"{len(failed)} of {len(rows)} runs failed")
