"""`refrnn train`: a thin layer over :func:`refrnn.run.training.train`.

Its setting options are made from TrainConfig's fields (name, type, choices,
help; cli/options.py). Every option defaults to "not given", so the precedence is:
TrainConfig defaults < --config FILE < command-line options (and, with
--resume, the run's own config.json instead of the defaults). The settings
are resolved and checked once, by train(); its progress lines are the ones
``refrnn.train(quiet=False)`` prints (refrnn.run.progress).
"""
from __future__ import annotations

import dataclasses
import signal
import sys

import click

from refrnn.run.settings import TrainConfig
from refrnn.run.training import train

from .options import given, setting_options

SETTINGS = tuple(f.name for f in dataclasses.fields(TrainConfig))


@click.command("train")
@setting_options(*SETTINGS)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="JSON or TOML file of settings (options given here override it).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from last.h5.")
@click.option("--force", is_flag=True, help="Overwrite an existing run in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output (the table still prints).")
def train_cmd(config_file, resume, force, quiet, **options):
    """Train an RNN on a task battery and write a run directory."""
    try:  # a bad setting, file, checkpoint or cache ends in cli.errors' one line
        result = train(config_file, resume=resume, force=force, quiet=quiet, **given(options))
    except KeyboardInterrupt as e:
        # a bare KeyboardInterrupt (Ctrl-C before train's handlers) has no text
        click.echo(f"\n{str(e) or 'interrupted (Ctrl-C)'}", err=True)
        sys.exit(128 + getattr(e, "signum", signal.SIGINT))  # 130 Ctrl-C, 143 SIGTERM
    click.echo(result.table())
    if not quiet:
        click.echo(f"best mean perf {result.best_perf:.3f} at step {result.best_step}; "
                   f"{result.seconds:.0f} s; run directory {result.out}")
