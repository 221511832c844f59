"""Figures written under the ownership rule: one place where refrnn saves a
matplotlib figure (refrnn plot, refrnn analyze, refrnn mask --plot).

    save_figure(fig, path, force=False, **savefig_kw)

The figure is written to a temporary name and renamed (refrnn.files.atomic);
an existing file at ``path`` is replaced only when the folder's manifest
records it as refrnn's, or with ``force`` (refrnn.files.ownership). The
figure is closed in every case. matplotlib is the caller's (the plot extra).
"""
from __future__ import annotations

from pathlib import Path

from .ownership import check_replaceable, owned_output

FIGURE = "a figure refrnn wrote"


def check_figures(paths, force: bool = False) -> list:
    """FileError before any work when one of ``paths`` holds a file that is not
    refrnn's figure (see the module docstring); else the paths."""
    return [check_replaceable(p, FIGURE, None, force) for p in paths]


def save_figure(fig, path, force: bool = False, **savefig_kw) -> Path:
    """``fig.savefig`` into ``path`` atomically, under the ownership rule; the
    figure is closed afterwards (also on failure). Returns ``path``."""
    import matplotlib.pyplot as plt

    try:
        with owned_output(path, FIGURE, None, force) as tmp:
            fig.savefig(tmp, **savefig_kw)
    finally:
        plt.close(fig)
    return Path(path)
