"""`refrnn train`: a thin layer over :func:`refrnn.training.train`.

Every option defaults to "not given", so the precedence is: TrainConfig
defaults < --config FILE < command-line options (and, with --resume, the
run's own config.json instead of the defaults).
"""
from __future__ import annotations

import math
import sys

import click

from refrnn.config_file import (
    ACTIVATIONS, DEVICES, DTYPES, ConfigError, TrainConfig, load_config_file,
)

MASK_CHOICES = ("locality", "ring", "random", "full", "autapse")

# (option, TrainConfig field, click type, help)
_SETTINGS = [
    ("--task-set", "task_set", str, "Task battery: yang19, modcog or modcog82."),
    ("--compat", "compat", str, "Reference-compatibility rules (modcog-2023)."),
    ("--mask", "mask", click.Choice(MASK_CHOICES), "Recurrent connectivity pattern."),
    ("--sparsity", "sparsity", float, "Fraction of the N*N recurrent connections, (0, 1]."),
    ("--mask-seed", "mask_seed", int, "Seed of the random mask."),
    ("--hidden", "hidden", int, "Number of recurrent units N."),
    ("--activation", "activation", click.Choice(ACTIVATIONS), "Activation f."),
    ("--tau", "tau", float, "Time constant in ms (alpha = dt / tau)."),
    ("--dt", "dt", float, "Time step in ms (default: the task set's, 100)."),
    ("--sigma-rec", "sigma_rec", float, "Recurrent noise strength."),
    ("--init-radius", "init_radius", float,
     "Spectral radius of the initial W_rec (0 = unscaled N(0, 1/k) draw)."),
    ("--lr", "lr", float, "Adam learning rate."),
    ("--batch-size", "batch_size", int, "Streams per batch B."),
    ("--seq-len", "seq_len", int, "Steps per batch T."),
    ("--steps", "steps", int, "Number of Adam updates."),
    ("--clip", "clip", float, "Global gradient-norm clip (0 = off)."),
    ("--fix-weight", "fix_weight", float, "Loss weight of fixation-label steps."),
    ("--seed", "seed", int, "Seed of weights, batches and noise."),
    ("--cache-seed", "cache_seed", int, "Seed of the cached trials."),
    ("--trials-per-task", "trials_per_task", int, "Cached training trials per task."),
    ("--eval-trials", "eval_trials", int, "Held-out test trials per task."),
    ("--eval-every", "eval_every", int, "Evaluate every this many steps."),
    ("--checkpoint-every", "checkpoint_every", int, "Save last.h5 every this many steps."),
    ("--device", "device", click.Choice(DEVICES), "cpu, cuda or auto."),
    ("--dtype", "dtype", click.Choice(DTYPES), "Floating-point type."),
    ("--cache-path", "cache_path", click.Path(dir_okay=False), "Explicit trial-cache file."),
    ("--out", "out", click.Path(file_okay=False), "Run directory."),
]
_FLAGS = [
    ("input_noise", "Input noise on training batches."),
    ("eval_noise", "Recurrent and input noise during evaluation."),
    ("train_h0", "Train the initial state h0."),
]


def _option_for(key):
    for opt, field, _, _ in _SETTINGS:
        if field == key:
            return opt
    return "--" + key.replace("_", "-") if key else None


def _bad(err: ConfigError):
    key = getattr(err, "key", None)
    if key:
        return click.BadParameter(str(err), param_hint=f"'{_option_for(key)}'")
    return click.UsageError(str(err))


def _default_text(field):
    v = getattr(TrainConfig, field, None)
    if field == "out":
        return "runs/<task-set>-seed<seed>"
    return None if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _with_default(help_, field):
    d = _default_text(field)
    return help_ if d is None else f"{help_}  [default: {d}]"


def _settings_options(f):
    # default=None means "not given"; the TrainConfig default is shown in --help
    for name, help_ in reversed(_FLAGS):
        dashed = name.replace("_", "-")
        f = click.option(f"--{dashed}/--no-{dashed}", name, default=None,
                         help=_with_default(help_, name))(f)
    for opt, field, typ, help_ in reversed(_SETTINGS):
        f = click.option(opt, field, type=typ, default=None,
                         help=_with_default(help_, field))(f)
    return f


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
        _preflight(cfg)
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


def _preflight(cfg: TrainConfig):
    """Build the mask and check the device once, so an impossible setting is a
    usage error rather than a crash part-way into the run."""
    from refrnn.backend import available_devices
    from refrnn.masks import make_mask
    if cfg.device == "cuda" and "cuda" not in available_devices():
        raise ConfigError("device 'cuda' needs CuPy and a CUDA GPU (pip install "
                          "'refrnn[gpu]'); use --device cpu or auto", "device")
    try:
        make_mask(cfg.mask, cfg.hidden, cfg.sparsity, cfg.mask_seed)
    except ValueError as e:
        raise ConfigError(f"cannot build a {cfg.mask} mask with hidden={cfg.hidden} and "
                          f"sparsity={cfg.sparsity!r}: {e}", "sparsity") from None


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
