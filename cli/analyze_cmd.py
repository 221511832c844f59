"""`refrnn analyze RUN_DIR`: task variance, clusters, dimensionality and fixed points."""
from __future__ import annotations

import math
import time

import click

from refrnn.analysis.activity import AnalysisError
from refrnn.analysis.report import analyze_run
from refrnn.analysis.tables import summary_row
from refrnn.analysis.task_variance import DEFAULT_STATISTIC, STATISTICS


def _finite(value, hint):
    """click's FloatRange lets nan and inf through its bounds: refuse them."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a finite number", param_hint=hint)
    return value


@click.command("analyze")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default=None,
              help="Which checkpoint of the run to analyse  [default: best when the run "
                   "has one, else last].")
@click.option("--tasks", "tasks", multiple=True, metavar="NAME[,NAME..]",
              help="Tasks or task sets to analyse (repeatable; default: all the run's).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder of the CSVs and figures [RUN_DIR/analysis_<checkpoint>].")
@click.option("--trials", "max_trials", type=click.IntRange(min=2), default=None,
              help="Held-out trials per task (default: all in the cache).")
@click.option("--starts", "n_starts", type=click.IntRange(min=1), default=32,
              show_default=True,
              help="Fixed-point searches per task from its activity, and as many (at most "
                   "one per state) from its delay-period states (tasks with a delay).")
@click.option("--q-tol", type=click.FloatRange(min=0, min_open=True), default=1e-4,
              show_default=True, callback=lambda ctx, p, v: _finite(v, "'--q-tol'"),
              help="A slow point has q(h) below this (a converged "
                   "minimum); so has every state on a continuous set's path.")
@click.option("--pair", "pairs", multiple=True, metavar="A:B",
              help="Task pair for fractional task variance (repeatable).")
@click.option("--tv-statistic", type=click.Choice(STATISTICS), default=DEFAULT_STATISTIC,
              show_default=True,
              help="Task variance: 'yang' (Yang et al. 2019: fixation dropped, trials aligned "
                   "at stimulus onset) or 'all-steps' (every step from trial start; refrnn's "
                   "earlier statistic).")
@click.option("--analysis-seed", "--seed", "analysis_seed", type=click.IntRange(min=0),
              default=0, show_default=True,
              help="Seed of k-means and of the fixed-point starts.")
@click.option("--figures/--no-figures", default=None,
              help="Draw the PNG figures (needs matplotlib, the plot extra) "
                   "[default: when matplotlib is installed].")
@click.option("--force", is_flag=True,
              help="Replace files in --out that refrnn did not write (e.g. your own "
                   "summary.csv); without it they are refused.")
def analyze_cmd(run_dir, checkpoint, tasks, out, max_trials, n_starts, q_tol, pairs,
                tv_statistic, analysis_seed, figures, force):
    """Look inside a trained network (docs/analysis.md): write CSVs and figures
    and print the headline numbers. Bad input ends in one `Error:` line."""
    pair_list = None
    if pairs:
        pair_list = []
        for p in pairs:
            a, sep, b = p.partition(":")
            if not sep or not a or not b:
                raise click.BadParameter(f"{p!r} is not A:B", param_hint="'--pair'")
            pair_list.append((a, b))
    if figures is not False:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            if figures:
                raise click.ClickException("figures need matplotlib: pip install "
                                           "'refrnn[plot]', or pass --no-figures") from None
            click.echo("note: no figures (matplotlib is not installed: pip install "
                       "'refrnn[plot]'); the tables are written", err=True)
        else:
            figures = True
    figures = bool(figures)
    t0 = time.perf_counter()
    try:
        res, paths = analyze_run(run_dir, checkpoint=checkpoint, tasks=list(tasks) or None,
                                 out=out, figures=figures, force=force,
                                 max_trials=max_trials, n_starts=n_starts, q_tol=q_tol,
                                 pairs=pair_list, analysis_seed=analysis_seed,
                                 tv_statistic=tv_statistic)
    except AnalysisError as e:
        raise click.ClickException(str(e)) from None
    row = summary_row(res)
    click.echo(f"{res.run_dir} ({res.checkpoint}.h5, step {res.step}): "
               f"{len(res.tasks)} tasks, {row['n_units_kept']} units kept "
               f"({row['n_units_dropped']} below the task-variance threshold; "
               f"statistic {row['tv_statistic']})")
    click.echo(f"clusters: {row['n_clusters'] or res.cluster_note} "
               f"(silhouette {row['silhouette'] or '-'})")
    click.echo(f"participation ratio: {row['pr_all']} over all tasks, "
               f"{row['pr_task_mean']} per task (mean); PC1-3 hold {row['var_pc3']}")
    click.echo(f"fixed/slow points per task: {row['fp_per_task']} "
               f"({row['stable_per_task']} stable); tasks with a continuous set: "
               f"{row['tasks_continuous']} of {len(res.tasks)}; starts not converged: "
               f"{row['fp_not_converged']}")
    if row["delay_tasks"]:
        click.echo(f"from delay-period starts ({row['delay_tasks']} tasks with a delay): "
                   f"{row['delay_fp_per_task']} per task ({row['delay_stable_per_task']} "
                   f"stable); with a continuous set: {row['delay_tasks_continuous']}; "
                   f"not converged: {row['delay_not_converged']}")
    else:
        click.echo("no analysed task has a delay period (its fixation input after a "
                   "stimulus): no delay-start search")
    click.echo(f"wrote {len(paths)} files to {paths[0].parent} "
               f"in {time.perf_counter() - t0:.1f} s")
