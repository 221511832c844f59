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
    from refrnn.checkpoint import checkpoint_step
    from refrnn.training import check_task_dt, resolve_config, resume_line, train

    given = {k: v for k, v in options.items() if v is not None}
    try:
        base = load_config_file(config_file) if config_file else {}
        cfg = resolve_config(base, given, resume)
        check_task_dt(cfg)
        _preflight(cfg)
    except ConfigError as e:
        raise _bad(e) from None
    start = checkpoint_step(cfg.out_dir / "last.h5") if resume else None
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
        raise _bad(e) from None
    except KeyboardInterrupt as e:
        click.echo(f"\n{e or 'interrupted'}", err=True)
        sys.exit(130)
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
        from refrnn.training_loop import fmt_loss
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
            from refrnn.training_loop import eta_suffix
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
