"""`refrnn train`: a thin layer over :func:`refrnn.training.train`.

Its setting options are made from TrainConfig's fields (name, type, choices,
help). Every option defaults to "not given", so the precedence is:
TrainConfig defaults < --config FILE < command-line options (and, with
--resume, the run's own config.json instead of the defaults).
"""
from __future__ import annotations

import dataclasses
import math
import sys

import click

from refrnn.config_file import ConfigError, TrainConfig, field_type, load_config_file

_CLICK_TYPES = {int: int, float: float, str: str}


def _option(f):
    """The click option of TrainConfig field ``f``: its type, choices and help.

    default=None means "not given", so the precedence is: TrainConfig defaults
    < --config FILE < command-line options; the field's default shows in --help.
    """
    kind, _ = field_type(f.name)
    dashed = "--" + f.name.replace("_", "-")
    rules, help_ = f.metadata, f.metadata["help"]
    if f.default is not None:
        help_ += f"  [default: {str(f.default).lower() if kind is bool else f.default}]"
    if kind is bool:
        return click.option(f"{dashed}/--no-{dashed[2:]}", f.name, default=None, help=help_)
    if "choices" in rules:
        typ = click.Choice([c for c in rules["choices"] if c is not None])
    elif "path" in rules:
        typ = click.Path(dir_okay=rules["path"] == "dir", file_okay=rules["path"] == "file")
    else:
        typ = _CLICK_TYPES[kind]
    return click.option(dashed, f.name, type=typ, default=None, help=help_)


def _settings_options(command):
    for f in reversed(dataclasses.fields(TrainConfig)):
        command = _option(f)(command)
    return command


def _bad(err: ConfigError):
    if err.key:
        return click.BadParameter(str(err), param_hint=f"'--{err.key.replace('_', '-')}'")
    return click.UsageError(str(err))


@click.command("train")
@_settings_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="JSON or TOML file of settings (options given here override it).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from last.h5.")
@click.option("--force", is_flag=True, help="Overwrite an existing run in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output (the table still prints).")
def train_cmd(config_file, resume, force, quiet, **options):
    """Train an RNN on a task battery and write a run directory."""
    from refrnn.cache import CacheError
    from refrnn.checkpoint import CheckpointError
    from refrnn.training import TrainingDiverged, resolve_config, train

    given = {k: v for k, v in options.items() if v is not None}
    try:
        base = load_config_file(config_file) if config_file else {}
        cfg = resolve_config(base, given, resume)
    except ConfigError as e:
        raise _bad(e) from None
    if not quiet:
        click.echo(f"training {cfg.task_set}: N={cfg.hidden} {cfg.mask} mask at sparsity "
                   f"{cfg.sparsity:g}, {cfg.steps} steps of {cfg.batch_size}x{cfg.seq_len} "
                   f"-> {cfg.out}")
    progress = _Progress(cfg.steps, cfg.eval_every, quiet)
    try:
        result = train(cfg, resume=resume, force=force, quiet=True, callback=progress)
    except ConfigError as e:
        progress.close()
        raise _bad(e) from None
    except (TrainingDiverged, CheckpointError, CacheError) as e:
        progress.close()
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt as e:
        progress.close()
        click.echo(f"\n{e or 'interrupted'}", err=True)
        sys.exit(130)
    progress.close()
    click.echo(result.table())
    if not quiet:
        click.echo(f"best mean perf {result.best_perf:.3f} at step {result.best_step}; "
                   f"{result.seconds:.0f} s; run directory {result.out}")


class _Progress:
    """Progress fed by train()'s per-step callback: a click progress bar on a
    terminal, else one line per evaluation (logs and pipes stay readable)."""

    def __init__(self, steps, eval_every, quiet):
        self.steps, self.eval_every, self.quiet = steps, eval_every, quiet
        self.bar, self.done, self.info = None, 0, {}
        self.tty = sys.stdout.isatty()

    def _show(self, _item):
        i = self.info
        if not i:
            return ""
        perf = i["mean_perf"]
        return f"loss {i['loss']:.4f}  perf {'-' if math.isnan(perf) else f'{perf:.3f}'}"

    def __call__(self, info):
        if self.quiet:
            return
        self.info = info
        if not self.tty:
            if info["step"] % self.eval_every == 0 or info["step"] == self.steps:
                click.echo(f"step {info['step']}/{self.steps}  {self._show(None)}  "
                           f"({info['seconds']:.0f} s)")
            return
        if self.bar is None:
            self.bar = click.progressbar(length=self.steps, label="training",
                                         item_show_func=self._show, show_pos=True, width=24)
            self.bar.__enter__()
            self.done = info["step"] - 1
        self.bar.update(info["step"] - self.done)
        self.done = info["step"]

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
