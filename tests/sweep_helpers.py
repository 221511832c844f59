"""Hand-made run directories in the layout train() writes (tests only)."""
import csv
import json
from pathlib import Path


def write_run(run_dir, steps, mean_perf, task_perf, seconds=None, config=None,
              done_label=None, seed=0):
    """Write config.json and metrics.csv (and sweep_done.json if labelled).

    steps: list of E ints; mean_perf: list of E floats; task_perf: dict task ->
    list of E floats; seconds: list of E floats (default 1.5 * index).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seconds = seconds or [1.5 * (i + 1) for i in range(len(steps))]
    cols = ["step", "loss", "mean_perf", *[f"perf_{t}" for t in task_perf],
            "seconds"]
    with open(run_dir / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, step in enumerate(steps):
            w.writerow([step, 2.0 / (i + 1), mean_perf[i],
                        *[task_perf[t][i] for t in task_perf], seconds[i]])
    cfg = {"task_set": "yang19", "mask": "locality", "sparsity": 0.04,
           "hidden": 16, "seed": seed, **(config or {})}
    (run_dir / "config.json").write_text(json.dumps(cfg))
    if done_label:
        (run_dir / "sweep_done.json").write_text(json.dumps(
            {"label": done_label, "seed": seed, "worker_seconds": 9.0}))
    return run_dir
