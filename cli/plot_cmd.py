"""`refrnn plot`: learning curves and per-task heat maps of runs, as PNG."""
from __future__ import annotations

from pathlib import Path

import click

from refrnn.experiments.plots import plot_runs


@click.command("plot")
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_prefix", default=None,
              help="PNG path prefix: writes PREFIX_curves.png and "
                   "PREFIX_heatmap_<task set>.png  [default: RUN_DIR/plot for one "
                   "RUN_DIR; plot in the current folder for several]")
@click.option("--force", is_flag=True,
              help="Replace files of those names that refrnn did not write; without "
                   "it they are refused.")
def plot_cmd(run_dirs, out_prefix, force):
    """Plot RUN_DIR... (run folders, or sweep folders holding runs). The
    figures of one RUN_DIR go into it; those of several, which belong to
    none of them, into the current folder (or --out)."""
    if out_prefix is None:
        out_prefix = Path(run_dirs[0]) / "plot" if len(run_dirs) == 1 else Path("plot")
    try:
        written = plot_runs(run_dirs, out_prefix, force)
    except ImportError as exc:
        raise click.ClickException(str(exc))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RUN_DIR")
    for path in written:
        click.echo(f"wrote {path}")
