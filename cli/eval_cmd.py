"""`refrnn eval RUN_DIR`: score a run's checkpoint on its held-out trials."""
from __future__ import annotations

from pathlib import Path

import click

from refrnn.files.errors import FileError, check_writable
from refrnn.files.ownership import check_replaceable
from refrnn.score.table import is_eval_table, results_table, write_results_csv
from refrnn.run.open_run import evaluate_run
from refrnn.run.run_dir import LAST
from refrnn.score.rules import SCORES

from .errors import checkpoint_option, find_checkpoint_option
from .options import setting_option


def default_csv(run: Path, path: Path, noise: bool, score: str) -> Path:
    """RUN_DIR/eval.csv for the noise-free refrnn score of last.h5 (the table
    training writes), else RUN_DIR/eval_<checkpoint>[_noise][_<score>].csv."""
    if path == run / LAST and not noise and score == "refrnn":
        return run / "eval.csv"
    tag = path.stem + ("_noise" if noise else "") + ("" if score == "refrnn" else f"_{score}")
    return run / f"eval_{tag}.csv"


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@checkpoint_option
@setting_option("eval_noise", old_names=("--noise",))
@click.option("--noise-seed", "--seed", "noise_seed", type=click.IntRange(min=0), default=0,
              show_default=True, help="Seed of the evaluation noise (with --eval-noise).")
@setting_option("device", shown_default="the run's")
@setting_option("eval_batch_size", shown_default="the run's")
@click.option("--score", type=click.Choice(SCORES), default="refrnn", show_default=True,
              help="Trial scoring rule of the perf column (docs/tasks.md, Scoring).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the table (default: RUN_DIR/eval.csv for last.h5, "
                   "else RUN_DIR/eval_<checkpoint>[_noise][_<score>].csv).")
def eval_cmd(run_dir, checkpoint, eval_noise, noise_seed, device, eval_batch_size, score,
             csv_path):
    """Print the per-task performance table of RUN_DIR and write it as CSV.

    A missing or damaged file, checkpoint or cache ends in a one-line error
    and exit status 1."""
    run = Path(run_dir)
    path = find_checkpoint_option(run, checkpoint)
    noise = bool(eval_noise)
    hint = "" if csv_path else "; pass --csv PATH to write the table elsewhere"
    csv_path = Path(csv_path) if csv_path else default_csv(run, path, noise, score)
    try:  # fail now, not after the evaluation; never replace a file refrnn did not write
        check_replaceable(csv_path, "a refrnn evaluation table", is_eval_table)
        check_writable(csv_path)
    except FileError as e:
        raise click.ClickException(f"{e}{hint}") from None
    res = evaluate_run(run, checkpoint=str(path), noise=noise, noise_seed=noise_seed, device=device,
                       batch_size=eval_batch_size, score=score)
    click.echo(f"checkpoint: {path}; score: {score} (docs/tasks.md, Scoring)")
    click.echo(results_table(res))
    write_results_csv(res, csv_path)
    click.echo(f"wrote {csv_path}")
