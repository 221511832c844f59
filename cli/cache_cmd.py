"""`refrnn cache`: build a trial cache, or verify one (--verify PATH)."""
from __future__ import annotations

import os
import time

import click

from refrnn.data.cache import (CacheError, build_cache, cache_settings, default_cache_path,
                               open_cache, verify_cache)

from .options import setting_options, settings_from

# what a trial cache depends on: with the same values `refrnn train` opens it
CACHE_SETTINGS = ("task_set", "trials_per_task", "eval_trials", "cache_seed", "task_seed",
                  "dt", "compat")


@click.command("cache")
@setting_options(*CACHE_SETTINGS)
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="file to write [default: the per-user cache folder, "
                   "$REFRNN_CACHE_DIR overrides]")
@click.option("--verify", "verify", default=None, type=click.Path(dir_okay=False),
              help="check every checksum of this cache file instead of building")
def cache_cmd(out, verify, **options):
    """Generate a task set's train and test trials once into an HDF5 cache.

    The settings, their defaults and the --dt rule are `refrnn train`'s, so a
    cache built here with some values is the one `refrnn train` with the
    same values opens (pass --cache-path when --out is given)."""
    if verify is not None:
        try:
            r = verify_cache(verify)
        except CacheError as e:
            click.echo(f"FAILED: {e}", err=True)
            raise SystemExit(1)
        s = open_cache(verify).settings
        click.echo(f"{verify}: ok ({r['datasets']} datasets, {r['bytes'] / 2**20:.1f} MiB "
                   f"checked); task_set={s['task_set']} trials_per_task="
                   f"{s['trials_per_task']} eval_trials={s['test_trials_per_task']} "
                   f"cache_seed={s['seed']} task_seed={s['task_seed']}")
        return
    t0 = time.perf_counter()
    cfg = settings_from(options, check_dt=True)
    args, kw = cfg.cache_request()
    target = default_cache_path(*args, **kw) if out is None else out
    try:  # the same settings already built: nothing to do (a damaged file is rebuilt)
        open_cache(target, expect=cache_settings(*args, **kw))
        verify_cache(target)
        click.echo(f"up to date: {target} ({os.path.getsize(target) / 2**20:.1f} MiB, "
                   "built with these settings, every checksum verified)")
        return
    except (CacheError, OSError):
        pass
    try:  # unwritable paths and a build of --out already running end in cli.errors
        # the default cache is shared: wait for a build of it running elsewhere (docs/data.md)
        path = build_cache(*args, path=out, wait=out is None, **kw)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB) "
               f"in {time.perf_counter() - t0:.1f} s")
