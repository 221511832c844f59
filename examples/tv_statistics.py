"""Task variance of trained runs under refrnn's two statistics, side by side.

For each run folder given (its best checkpoint), the noise-free activity of
its held-out trials is computed once; then everything the task-variance
statistic feeds is measured twice, as ``refrnn analyze`` measures it:

    current   Yang et al. 2019's statistic ("yang": each trial's fixation
              period dropped, trials aligned at stimulus onset), FTV over the
              pair's own units (TV_A + TV_B > 1e-3)
    earlier   refrnn's earlier one ("all-steps": every step from the trial's
              start), FTV over the units kept over all tasks with TV_A + TV_B > 0

and compared on the same network, so the difference is the statistic's
alone (no retraining, no fixed-point search):

    units kept, clusters k and their silhouette (choose_clusters, seed 0);
    the correlation of the normalised TV over the units kept by both, and the
    share of those units whose top task changed;
    per FTV pair: units, mean FTV, and over the units in both selections the
    correlation and the largest difference.

    python examples/tv_statistics.py RUN [RUN ...] --csv OUT.csv

Writes one CSV row per run and FTV pair (the run's columns repeated) and
prints a Markdown table of the runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refrnn.analysis.activity import load_network, task_activity  # noqa: E402
from refrnn.analysis.clusters import choose_clusters  # noqa: E402
from refrnn.analysis.fractional import default_pairs, fractional_variance, pair_units  # noqa: E402
from refrnn.analysis.task_variance import THRESHOLD, normalise, task_variance  # noqa: E402
from refrnn.files.tables import write_csv  # noqa: E402

STATISTICS = {"current": "yang", "earlier": "all-steps"}


def both_statistics(run, checkpoint="best"):
    """(tasks, {"current": tv, "earlier": tv}) of RUN's checkpoint; tv (N, A)."""
    net = load_network(run, checkpoint)
    names = net.task_names
    tv = {k: np.zeros((net.model.config.hidden, len(names))) for k in STATISTICS}
    for a, task in enumerate(names):
        act = task_activity(net.model, net.test_trials[task], a, len(names))
        for key, stat in STATISTICS.items():
            tv[key][:, a] = task_variance(act.h, act.valid, act.fixation_end, stat)
    return names, tv


def earlier_ftv_units(tv_a, tv_b, kept) -> np.ndarray:
    """The earlier FTV selection: kept units (over all tasks) with TV_A + TV_B > 0."""
    return np.flatnonzero(kept & (tv_a + tv_b > 0))


def compare(tasks, tv, threshold=THRESHOLD, seed=0):
    """The run's row and its FTV pairs' rows (see the module docstring)."""
    norm = {k: normalise(v, tasks, threshold, STATISTICS[k]) for k, v in tv.items()}
    row = {}
    for k, t in norm.items():
        c = choose_clusters(t.norm, seed=seed)
        row.update({f"{k}_kept": int(t.kept.sum()), f"{k}_k": c.k,
                    f"{k}_silhouette": round(float(c.curve[c.k]), 4)})
    both = norm["current"].kept & norm["earlier"].kept
    a = norm["current"].norm[both[norm["current"].kept]]
    b = norm["earlier"].norm[both[norm["earlier"].kept]]
    row["units_in_both"] = int(both.sum())
    row["norm_tv_corr"] = round(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), 4)
    row["norm_tv_max_diff"] = round(float(np.abs(a - b).max()), 4)
    row["top_task_changed"] = round(float(np.mean(a.argmax(1) != b.argmax(1))), 4)
    col = {t: i for i, t in enumerate(tasks)}
    pairs = []
    for A, B in default_pairs(tasks):
        new_a, new_b = tv["current"][:, col[A]], tv["current"][:, col[B]]
        old_a, old_b = tv["earlier"][:, col[A]], tv["earlier"][:, col[B]]
        new_u = pair_units(new_a, new_b, threshold)
        old_u = earlier_ftv_units(old_a, old_b, norm["earlier"].kept)
        new = dict(zip(new_u, fractional_variance(new_a, new_b, threshold)))
        old = dict(zip(old_u, (old_a[old_u] - old_b[old_u]) / (old_a[old_u] + old_b[old_u])))
        common = sorted(set(new) & set(old))
        x, y = np.array([new[u] for u in common]), np.array([old[u] for u in common])
        pairs.append({"pair": f"{A}:{B}", "current_units": len(new),
                      "earlier_units": len(old),
                      "current_mean_ftv": round(float(np.mean(list(new.values()))), 4),
                      "earlier_mean_ftv": round(float(np.mean(list(old.values()))), 4),
                      "ftv_corr": (round(float(np.corrcoef(x, y)[0, 1]), 4)
                                   if len(common) > 1 else float("nan")),
                      "ftv_max_diff": (round(float(np.abs(x - y).max()), 4)
                                       if common else float("nan"))})
    return row, pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--csv", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    rows = []
    print("| run | kept (current / earlier) | k | silhouette | normalised TV corr | "
          "top task changed | FTV corr per pair | s |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        t0 = time.perf_counter()
        tasks, tv = both_statistics(run)
        row, pairs = compare(tasks, tv)
        sec = time.perf_counter() - t0
        rows += [{"run": run.name, **row, **p, "seconds": round(sec, 1)} for p in pairs]
        ftv = ", ".join(f"{p['pair']} {p['ftv_corr']:.2f}" for p in pairs)
        print(f"| {run.name} | {row['current_kept']} / {row['earlier_kept']} "
              f"| {row['current_k']} / {row['earlier_k']} "
              f"| {row['current_silhouette']:.3f} / {row['earlier_silhouette']:.3f} "
              f"| {row['norm_tv_corr']:.3f} | {row['top_task_changed']:.0%} | {ftv} "
              f"| {sec:.0f} |", flush=True)
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
