"""PNG figures: matplotlib (the plot extra, imported when a figure is drawn) and
one atomic writer, for the analysis figures and the sweep plots alike."""
from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output

DPI = 120  # every refrnn figure


def pyplot():
    """matplotlib.pyplot on the Agg backend; ImportError naming the plot extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("figures need matplotlib: pip install 'refrnn[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path) -> Path:
    """Write ``fig`` as a PNG through a temporary name in the same folder, then close it."""
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        pyplot().close(fig)
    return path
