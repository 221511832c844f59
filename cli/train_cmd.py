"""`refrnn train`: a thin layer over :func:`refrnn.run.training.train`.

Its setting options are made from TrainConfig's fields (name, type, choices,
help; cli/options.py). Every option defaults to "not given", so the precedence is:
TrainConfig defaults < --config FILE < command-line options (and, with
--resume, the run's own config.json instead of the defaults).
"""
from __future__ import annotations

import dataclasses
import math
import sys

import click

from refrnn.run.checkpoint import peek_step
from refrnn.run.progress import eta_suffix, fmt_loss
from refrnn.run.run_dir import check_task_dt, resume_line
from refrnn.run.settings import ConfigError, TrainConfig, load_config_file
from refrnn.run.training import resolve_config, train

from .options import bad_setting, given, setting_options

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
    try:
        base = load_config_file(config_file) if config_file else {}
        cfg = resolve_config(base, given(options), resume)
        check_task_dt(cfg)
    except ConfigError as e:
        raise bad_setting(e) from None
    start = peek_step(cfg.out_dir / "last.h5") if resume else None
    if not quiet:
        click.echo(f"training {cfg.task_set}: N={cfg.hidden} {cfg.mask} mask at sparsity "
                   f"{cfg.sparsity:g}, {cfg.steps} steps of {cfg.batch_size}x{cfg.seq_len} "
                   f"-> {cfg.out}")
        if start is not None and start <= cfg.steps:
            click.echo(resume_line(start, cfg.steps))
    # other failures (files, checkpoints, caches, locks) end in cli.errors
    try:
        with _Progress(cfg.steps, cfg.eval_every, quiet) as progress:
            result = train(cfg, resume=resume, force=force, quiet=True, callback=progress)
    except ConfigError as e:
        raise bad_setting(e) from None
    except KeyboardInterrupt as e:
        click.echo(f"\n{e or 'interrupted'}", err=True)
        sys.exit(130)
    click.echo(result.table())
    if not quiet:
        click.echo(f"best mean perf {result.best_perf:.3f} at step {result.best_step}; "
                   f"{result.seconds:.0f} s; run directory {result.out}")


class _Progress:
    """Progress fed by train()'s per-step callback: a click progress bar over
    the steps this call trains (so its ETA is right on a resume) on a
    terminal, else one line per evaluation with the ETA (logs and pipes stay
    readable). The loss shown is metrics.csv's: the mean since its last row."""

    def __init__(self, steps, eval_every, quiet):
        self.steps, self.eval_every, self.quiet = steps, eval_every, quiet
        self.bar, self.done, self.info = None, 0, {}
        self.tty = sys.stdout.isatty()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        return False

    def _show(self, _item=None):
        i = self.info
        if not i:
            return ""
        perf = i["mean_perf"]
        return (f"step {i['step']}/{self.steps}  loss {fmt_loss(i['mean_loss'])}  "
                f"perf {'-' if math.isnan(perf) else f'{perf:.3f}'}")

    def __call__(self, info):
        if self.quiet:
            return
        self.info = info
        if not self.tty:
            if info["step"] % self.eval_every == 0 or info["step"] == self.steps:
                click.echo(f"{self._show()}  ({info['seconds']:.0f} s"
                           f"{eta_suffix(info['eta'])})")
            return
        if self.bar is None:
            self.done = info["start"]
            self.bar = click.progressbar(length=self.steps - self.done, label="training",
                                         item_show_func=self._show, width=24)
            self.bar.__enter__()
        self.bar.update(info["step"] - self.done)
        self.done = info["step"]
