"""Figures of finished runs: learning curves and per-task heat maps (PNG).

Needs the ``plot`` extra (matplotlib), imported only when a figure is made.
Runs are grouped by configuration label (the sweep's label, or one built from
config.json) and by task set; seeds of one label form a band.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..files.figures import check_figures, save_figure
from .grid import default_label
from .one_run import has_done_marker, read_done_marker
from .summary import Curve, read_metrics

LABEL_KEYS = ("task_set", "mask", "sparsity", "hidden")


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "plotting needs matplotlib: install the plot extra, "
            "pip install 'refrnn[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@dataclasses.dataclass
class RunCurves:
    """One run directory read back for plotting."""

    path: Path
    label: str
    seed: int
    task_set: str
    curve: Curve


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_run(run_dir: str | Path) -> RunCurves:
    """Read a run directory (metrics.csv, config.json, its done marker)."""
    run_dir = Path(run_dir)
    curve = read_metrics(run_dir)
    cfg = _read_json(run_dir / "config.json")
    marker = read_done_marker(run_dir) or {}
    label = marker.get("label") or default_label(
        {k: cfg[k] for k in LABEL_KEYS if k in cfg}) or run_dir.name
    return RunCurves(run_dir, label, int(cfg.get("seed", marker.get("seed", 0))),
                     str(cfg.get("task_set", "runs")), curve)


def collect_runs(paths) -> list[RunCurves]:
    """Load run directories; a folder without metrics.csv is searched one
    level down (so a sweep folder stands for its finished runs: those with a
    done marker, or all when none has one).

    Raises ValueError naming a path that holds no run.
    """
    runs = []
    for p in map(Path, paths):
        if (p / "metrics.csv").is_file():
            runs.append(load_run(p))
            continue
        subs = sorted(d for d in p.glob("*") if (d / "metrics.csv").is_file()) \
            if p.is_dir() else []
        finished = [d for d in subs if has_done_marker(d)]
        subs = finished or subs  # in a sweep folder, finished runs only
        if not subs:
            raise ValueError(f"{p} is not a run directory (no metrics.csv) and "
                             "holds none")
        runs.extend(load_run(d) for d in subs)
    return runs


def _group(runs):
    groups: dict = {}
    for r in runs:
        groups.setdefault(r.task_set, {}).setdefault(r.label, []).append(r)
    return groups


def _short(label: str, task_set: str) -> str:
    """The label without a leading task-set name (the panel title has it)."""
    for sep in ("_", ":", "/", " "):
        if label.startswith(task_set + sep) and len(label) > len(task_set) + 1:
            return label[len(task_set) + 1:]
    return label


def _band(runs):
    """Union of logged steps; mean/min/max over the seeds logged at each."""
    steps = np.unique(np.concatenate([r.curve.steps for r in runs]))
    table = np.full((len(runs), steps.size), np.nan)
    for i, r in enumerate(runs):
        table[i, np.searchsorted(steps, r.curve.steps)] = r.curve.mean_perf
    return (steps, np.nanmean(table, 0), np.nanmin(table, 0),
            np.nanmax(table, 0))


def plot_learning_curves(runs: list[RunCurves], path: str | Path, force: bool = False) -> Path:
    """Mean performance against step, one line per label (mean over seeds)
    and a shaded min-max band over seeds; one panel per task set."""
    plt = _pyplot()
    groups = _group(runs)
    fig, axes = plt.subplots(1, len(groups), figsize=(6.4 * len(groups), 4.4),
                             squeeze=False)
    for ax, (task_set, labels) in zip(axes[0], groups.items()):
        for label, members in labels.items():
            steps, mean, lo, hi = _band(members)
            line, = ax.plot(steps, mean, lw=1.8, label=f"{_short(label, task_set)}"
                            f" (n={len(members)})")
            if len(members) > 1:
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
        for level in (0.8, 0.9):
            ax.axhline(level, color="0.6", lw=0.8, ls=":")
        ax.set(title=f"{task_set}: mean performance (band: min-max over seeds)",
               xlabel="training step", ylabel="mean performance",
               ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path, force)


def plot_final_perf_against(panels: dict, path: str | Path, xlabel: str,
                            force: bool = False) -> Path:
    """Final performance against a setting (log x), one panel per task set.

    Args:
        panels: task set -> {label: (x (n,), mean (n,), std (n,))}; a line
            with error bars (± std over seeds) per label.
        path: the PNG to write.
        xlabel: what x is.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2),
                             squeeze=False)
    for ax, (task_set, lines) in zip(axes[0], panels.items()):
        for label, (x, mean, std) in lines.items():
            ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, lw=1.6,
                        label=label)
        ax.set_xscale("log")
        ax.set(title=f"{task_set}: final mean performance (± std over seeds)",
               xlabel=xlabel, ylabel="mean performance", ylim=(0, 1.02))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path, force)


def final_task_table(members: dict):
    """(labels, tasks, (n_labels, n_tasks) mean final per-task perf)."""
    labels = list(members)
    tasks = list(dict.fromkeys(t for runs in members.values()
                               for r in runs for t in r.curve.task_perf))
    grid = np.full((len(labels), len(tasks)), np.nan)
    for i, label in enumerate(labels):
        for j, task in enumerate(tasks):
            vals = [r.curve.task_perf[task][-1] for r in members[label]
                    if task in r.curve.task_perf]
            if vals:
                grid[i, j] = float(np.mean(vals))
    return labels, tasks, grid


def plot_task_heatmap(runs: list[RunCurves], path: str | Path,
                      task_set: str | None = None, per_panel: int = 32,
                      force: bool = False) -> Path:
    """Heat map of final per-task performance (mean over seeds): rows =
    configuration labels, columns = tasks, for one task set. More than
    ``per_panel`` tasks are wrapped into panels stacked top to bottom."""
    plt = _pyplot()
    groups = _group(runs)
    task_set = task_set or next(iter(groups))
    labels, tasks, grid = final_task_table(groups[task_set])
    if not tasks:
        raise ValueError(f"no per-task columns in the metrics of {task_set!r}")
    n_panels = -(-len(tasks) // per_panel)
    cols = -(-len(tasks) // n_panels)  # balance the panels
    panel_h = 0.32 * len(labels) + 1.1
    fig, axes = plt.subplots(n_panels, 1, squeeze=False,
                             figsize=(max(6.0, 0.24 * cols + 3.0),
                                      0.5 + n_panels * panel_h))
    for p, ax in enumerate(axes[:, 0]):
        sl = slice(p * cols, min((p + 1) * cols, len(tasks)))
        block = grid[:, sl]
        im = ax.imshow(block, vmin=0, vmax=1, cmap="viridis", aspect="auto",
                       interpolation="nearest")
        ax.set_xticks(range(block.shape[1]))
        ax.set_xticklabels(tasks[sl], rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([_short(lab, task_set) for lab in labels], fontsize=7)
        for (i, j), v in np.ndenumerate(block):
            if not np.isnan(v):
                text = "1" if round(v, 2) >= 1 else f"{v:.2f}"[1:]
                ax.text(j, i, text, ha="center", va="center", fontsize=5,
                        color="white" if v < 0.5 else "black")
        fig.colorbar(im, ax=ax, fraction=0.015, pad=0.01)
    axes[0, 0].set_title(f"{task_set}: final performance per task "
                         "(mean over seeds)")
    fig.tight_layout()
    return _save(fig, path, force)


def _save(fig, path, force) -> Path:
    """Save as PNG (refrnn.files.figures: atomically, replacing only refrnn's own
    figure unless ``force``)."""
    return save_figure(fig, path, force, dpi=120, format="png")


def plot_runs(paths, out_prefix: str | Path, force: bool = False) -> list[Path]:
    """All figures for some run (or sweep) directories.

    Writes ``<out_prefix>_curves.png`` and one
    ``<out_prefix>_heatmap_<task_set>.png`` per task set; returns the paths.
    A file already there that refrnn did not write is a FileError before any
    figure is drawn, unless ``force`` (refrnn.files.ownership).
    """
    runs = collect_runs(paths)
    out_prefix = str(out_prefix)
    curves = f"{out_prefix}_curves.png"
    heatmaps = {t: f"{out_prefix}_heatmap_{t}.png" for t in _group(runs)}
    check_figures([curves, *heatmaps.values()], force)
    written = [plot_learning_curves(runs, curves, force)]
    for task_set, path in heatmaps.items():
        written.append(plot_task_heatmap(runs, path, task_set, force=force))
    return written
