"""Figures of one analysis (PNG): task-variance heat map, silhouette curve,
FTV histograms, PCA trajectories, fixed points in PC space.

Needs matplotlib (the plot extra), imported inside the functions; every
file is written through refrnn.files.figures (atomically; an existing file
is replaced only when refrnn wrote it, or with ``force``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files.figures import save_figure

MAX_TRAJ = 6  # tasks drawn in the PCA trajectory figure


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("figures need matplotlib: pip install 'refrnn[plot]' "
                          "(or pass --no-figures)") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path, force) -> Path:
    return save_figure(fig, path, force, dpi=110, format="png")


def plot_task_variance(res, path, force=False) -> Path:
    """Normalised TV, kept units (rows, ordered by cluster) x tasks."""
    plt = _pyplot()
    norm = res.tv.norm
    order = (np.argsort(res.clustering.labels, kind="stable")
             if res.clustering is not None else np.arange(norm.shape[0]))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.12 * len(res.tasks) + 2), 5))
    im = ax.imshow(norm[order], aspect="auto", cmap="hot", vmin=0, vmax=1,
                   interpolation="nearest")
    if len(res.tasks) <= 40:
        ax.set_xticks(range(len(res.tasks)))
        ax.set_xticklabels(res.tasks, rotation=90, fontsize=7)
    else:
        ax.set_xlabel(f"task (1..{len(res.tasks)}, run order)")
    ax.set_ylabel(f"unit ({norm.shape[0]} kept, {res.tv.n_dropped} below threshold)")
    if res.clustering is not None:
        bounds = np.cumsum(np.bincount(res.clustering.labels))[:-1] - 0.5
        for b in bounds:
            ax.axhline(b, color="cyan", lw=0.6)
        ax.set_title(f"normalised task variance ({res.tv.statistic}), "
                     f"{res.clustering.k} clusters", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return _save(fig, path, force)


def plot_silhouette(res, path, force=False) -> Path:
    plt = _pyplot()
    c = res.clustering
    fig, ax = plt.subplots(figsize=(4, 3))
    ks = sorted(c.curve)
    ax.plot(ks, [c.curve[k] for k in ks], "o-", ms=3)
    ax.axvline(c.k, color="red", lw=0.8)
    ax.set_xlabel("k (clusters)")
    ax.set_ylabel("silhouette score")
    fig.tight_layout()
    return _save(fig, path, force)


def plot_ftv(res, path, force=False) -> Path:
    plt = _pyplot()
    pairs = list(res.ftv)
    fig, axes = plt.subplots(1, len(pairs), figsize=(3 * len(pairs), 2.6), squeeze=False)
    for ax, (A, B) in zip(axes[0], pairs):
        ax.hist(res.ftv[(A, B)], bins=np.linspace(-1, 1, 21), color="0.4")
        ax.set_xlabel(f"FTV({A}, {B})", fontsize=8)
        ax.set_xlim(-1, 1)
    axes[0, 0].set_ylabel(f"units (task variance: {res.tv.statistic})")
    fig.tight_layout()
    return _save(fig, path, force)


def plot_trajectories(res, path, force=False) -> Path:
    """Mean trajectories of a few tasks in the first two pooled PCs."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for task in list(res.trajectories)[:MAX_TRAJ]:
        xy = res.trajectories[task]
        line, = ax.plot(xy[:, 0], xy[:, 1], lw=1, label=task)
        ax.plot(xy[-1, 0], xy[-1, 1], "o", ms=3, color=line.get_color())
    ax.set_xlabel(f"PC1 ({100 * res.var_all[0]:.0f}%)")
    ax.set_ylabel(f"PC2 ({100 * res.var_all[1]:.0f}%)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path, force)


def plot_fixed_points(res, path, force=False) -> Path:
    """Slow points of every task in PC space: filled = stable, open = unstable;
    circles from activity starts, triangles from delay-period starts."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    cmap = plt.get_cmap("tab20")
    order = {t: i for i, t in enumerate(res.fixed)}
    for found, marker in ((res.fixed, "o"), (res.fixed_delay, "^")):
        for task, fp in found.items():
            if not fp.n_points:
                continue
            i = order[task]
            xy = (fp.points - res.mean_state) @ res.pcs
            stable = fp.n_unstable == 0
            col = cmap(i % 20)
            ax.scatter(xy[stable, 0], xy[stable, 1], s=10, color=col, marker=marker,
                       label=task if i < 20 and marker == "o" else None)
            ax.scatter(xy[~stable, 0], xy[~stable, 1], s=10, facecolors="none",
                       edgecolors=col, marker=marker)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title("fixed and slow points (open: unstable; ^: delay starts)", fontsize=9)
    if len(res.fixed) <= 20:
        ax.legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return _save(fig, path, force)


FIGURES = ("task_variance.png", "silhouette.png", "ftv.png", "pca_trajectories.png",
           "fixed_points.png")  # what draw_all may write


def draw_all(res, out, force=False) -> list:
    """Every figure of ``res`` into folder ``out`` (names: FIGURES); returns the paths."""
    out = Path(out)
    paths = [plot_task_variance(res, out / "task_variance.png", force)]
    if res.clustering is not None:
        paths.append(plot_silhouette(res, out / "silhouette.png", force))
    if res.ftv:
        paths.append(plot_ftv(res, out / "ftv.png", force))
    paths.append(plot_trajectories(res, out / "pca_trajectories.png", force))
    paths.append(plot_fixed_points(res, out / "fixed_points.png", force))
    return paths
