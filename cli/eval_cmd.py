"""`refrnn eval RUN_DIR`: score a run's checkpoint on its held-out trials."""
from __future__ import annotations

from pathlib import Path

import click

from refrnn.backends.backend import DEVICES, available_devices
from refrnn.files.errors import FileError, check_writable
from refrnn.files.ownership import check_replaceable
from refrnn.run.eval_table import results_table, write_results_csv
from refrnn.run.run_dir import is_eval_table
from refrnn.run.scoring import SCORES
from refrnn.run.settings import ConfigError
from refrnn.run.training import evaluate_run

from .errors import check_checkpoint_option


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--checkpoint", default="last", show_default=True,
              help="last, best, or a path to a checkpoint file.")
@click.option("--eval-noise/--no-eval-noise", "--noise/--no-noise", "noise", default=False,
              show_default=True, help="Recurrent and input noise during evaluation "
              "(train's --eval-noise).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the noise (with --noise).")
@click.option("--device", type=click.Choice(DEVICES), default=None,
              help="Where to evaluate (default: the run's --device).")
@click.option("--eval-batch-size", "batch_size", type=click.IntRange(min=1), default=None,
              help="Trials per forward pass when evaluating (default: the run's "
                   "--eval-batch-size).")
@click.option("--score", type=click.Choice(SCORES), default="refrnn", show_default=True,
              help="Trial scoring rule of the perf column (docs/tasks.md, Scoring).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the table (default: RUN_DIR/eval.csv, or "
                   "RUN_DIR/eval_<checkpoint>[_noise][_<score>].csv for other choices).")
def eval_cmd(run_dir, checkpoint, noise, seed, device, batch_size, score, csv_path):
    """Print the per-task performance table of RUN_DIR and write it as CSV.

    A missing or damaged file, checkpoint or cache ends in a one-line error
    and exit status 1."""
    if device == "cuda" and "cuda" not in available_devices():
        raise click.BadParameter("device 'cuda' needs CuPy and a CUDA GPU", param_hint="'--device'")
    run = Path(run_dir)
    check_checkpoint_option(run, checkpoint)
    hint = "" if csv_path else "; pass --csv PATH to write the table elsewhere"
    if csv_path is None:
        default = checkpoint == "last" and not noise and score == "refrnn"
        tag = Path(checkpoint).stem if checkpoint not in ("last", "best") else checkpoint
        tag += ("_noise" if noise else "") + ("" if score == "refrnn" else f"_{score}")
        csv_path = run / ("eval.csv" if default else f"eval_{tag}.csv")
    try:  # fail now, not after the evaluation; never replace a file refrnn did not write
        check_replaceable(csv_path, "a refrnn evaluation table", is_eval_table)
        check_writable(csv_path)
    except FileError as e:
        raise click.ClickException(f"{e}{hint}") from None
    try:
        res = evaluate_run(run, checkpoint=checkpoint, noise=noise, seed=seed,
                           device=device, batch_size=batch_size, score=score)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"score: {score} (docs/tasks.md, Scoring)")
    click.echo(results_table(res))
    write_results_csv(res, csv_path)
    click.echo(f"wrote {csv_path}")
