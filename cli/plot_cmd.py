"""`refrnn plot`: learning curves and per-task heat maps of runs, as PNG."""
from __future__ import annotations

from pathlib import Path

import click

from refrnn.experiments.plots import plot_runs


@click.command("plot")
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_prefix", default=None,
              help="PNG path prefix [first RUN_DIR/plot]: writes "
                   "PREFIX_curves.png and PREFIX_heatmap_<task set>.png.")
@click.option("--force", is_flag=True,
              help="Replace files of those names that refrnn did not write; without "
                   "it they are refused.")
def plot_cmd(run_dirs, out_prefix, force):
    """Plot RUN_DIR... (run folders, or sweep folders holding runs)."""
    try:
        written = plot_runs(run_dirs, out_prefix or Path(run_dirs[0]) / "plot", force)
    except ImportError as exc:
        raise click.ClickException(str(exc))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RUN_DIR")
    for path in written:
        click.echo(f"wrote {path}")
