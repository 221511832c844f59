"""`refrnn cache`: build a trial cache, or verify one (--verify PATH)."""
from __future__ import annotations

import os
import time

import click

from refrnn.run.settings import TrainConfig
from refrnn.tasks.encoding import COMPAT_MODES
from refrnn.tasks.registry import TASK_SETS

# the defaults are `refrnn train`'s, so a cache built ahead is the one it opens
TRAIN = TrainConfig()


@click.command("cache")
@click.option("--task-set", "task_set", default=TRAIN.task_set, show_default=True,
              type=click.Choice(list(TASK_SETS)), help="which task battery")
@click.option("--trials-per-task", "trials_per_task", default=TRAIN.trials_per_task,
              show_default=True, type=click.IntRange(min=1), help="training trials per task")
@click.option("--test-trials-per-task", "test_trials_per_task", default=TRAIN.eval_trials,
              show_default=True, type=click.IntRange(min=1),
              help="held-out trials per task (train's --eval-trials)")
@click.option("--seed", default=TRAIN.cache_seed, show_default=True,
              type=click.IntRange(min=0),
              help="seed of the generated trials (train's --cache-seed)")
@click.option("--task-seed", "task_seed", default=0, show_default=True,
              type=click.IntRange(min=0), help="task-set seed (delayed-match delays)")
@click.option("--dt", default=TRAIN.dt_ms, show_default=True, type=click.IntRange(min=1),
              help="step length, ms")
@click.option("--compat", default=None, type=click.Choice([c for c in COMPAT_MODES if c]),
              help="reference behaviour where refrnn differs")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="file to write [default: the per-user cache folder, "
                   "$REFRNN_CACHE_DIR overrides]")
@click.option("--verify", "verify", default=None, type=click.Path(dir_okay=False),
              help="check every checksum of this cache file instead of building")
def cache_cmd(task_set, trials_per_task, test_trials_per_task, seed, task_seed, dt,
              compat, out, verify):
    """Generate a task set's train and test trials once into an HDF5 cache."""
    from refrnn.data.cache import CacheError, build_cache, open_cache, verify_cache

    if verify is not None:
        try:
            r = verify_cache(verify)
        except CacheError as e:
            click.echo(f"FAILED: {e}", err=True)
            raise SystemExit(1)
        s = open_cache(verify).settings
        click.echo(f"{verify}: ok ({r['datasets']} datasets, {r['bytes'] / 2**20:.1f} MiB "
                   f"checked); task_set={s['task_set']} trials_per_task="
                   f"{s['trials_per_task']} test={s['test_trials_per_task']} seed={s['seed']}")
        return
    from refrnn.tasks.registry import check_dt_fits
    t0 = time.perf_counter()
    try:
        check_dt_fits(task_set, dt, compat)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--dt'") from None
    try:  # unwritable paths and a build already running end in cli.errors
        path = build_cache(task_set, trials_per_task, seed,
                           test_trials_per_task=test_trials_per_task, compat=compat,
                           dt=dt, task_seed=task_seed, path=out)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB) "
               f"in {time.perf_counter() - t0:.1f} s")
