"""Draw one trial of a few tasks: observations and labels as images.

    PYTHONPATH=. python examples/plot_trials.py [--out docs/img/trials.png] [--seed 0]

Needs the ``plot`` extra (matplotlib). Each column is one trial: on top the
33 input units over time (unit 0 = fixation cue, 1..16 = ring of modality 1,
17..32 = ring of modality 2), below it the target class per step as a one-hot
image (row 0 = fixate, row k = ring unit k-1). Dashed lines mark period
boundaries. The picture is written atomically (temporary name, then rename).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from refrnn.files.atomic import atomic_output
from refrnn.tasks import get_task

TASKS = ("dlyanti", "ctxdm1", "dlydm2intr", "dnms", "goseqr", "dmsintlseql")


def draw(out, seed=0, tasks=TASKS):
    """Render one trial of each task in ``tasks`` and save the figure to ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(2, len(tasks), figsize=(2.6 * len(tasks), 5.2),
                             gridspec_kw={"height_ratios": [33, 17]}, squeeze=False)
    for j, name in enumerate(tasks):
        tb = get_task(name).generate(1, rng)
        if name.startswith("dnms"):  # show a responding (non-match) trial
            while tb.params["ground_truth"][0] != 0:
                tb = get_task(name).generate(1, rng)
        obs, lab = tb.trial(0)
        onehot = np.zeros((17, lab.size))
        onehot[lab, np.arange(lab.size)] = 1
        top, bottom = axes[0, j], axes[1, j]
        top.imshow(obs.T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        bottom.imshow(onehot, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        for ax in (top, bottom):
            for b in tb.bounds[0, 1:-1]:
                ax.axvline(b - 0.5, color="tab:red", lw=0.8, ls="--")
        top.set_title(name, fontsize=10)
        top.axhline(0.5, color="w", lw=0.5)
        top.axhline(16.5, color="w", lw=0.5)
        bottom.set_xlabel("step (100 ms)")
        if j == 0:
            top.set_ylabel("input unit")
            bottom.set_ylabel("label")
    fig.tight_layout()
    out = os.path.abspath(out)
    try:
        with atomic_output(out) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot a few trials (observations and labels).")
    ap.add_argument("--out", default=os.path.join("docs", "img", "trials.png"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(draw(a.out, seed=a.seed))


if __name__ == "__main__":
    main()
