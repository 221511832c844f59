"""Time a sweep on dask (``scheduler="local"``) with 1 and with 2 workers.

The sweep: 4 runs (yang19, N = 256, locality and random masks at s = 0.04,
seeds 0 and 1, ``--steps`` updates each, every other setting at its
default). The trial cache is built before the clock starts. For each worker
count it reports:

- wall: the whole ``sweep()`` call (cluster start, worker checks, runs,
  summary);
- start: cluster start + version and storage checks, until the first submit;
- runs: first submit to last result;
- task s: each run's own time on its worker (``worker_seconds`` in
  ``sweep_done.json``: train() from its first line to the marker);
- overhead per run: for each worker, (its last result - first submit) -
  (its runs' task s), summed over workers and divided by the number of
  runs: what a worker spent on anything but training while it had work
  (dask's scheduling and transfers, the task's checks and log lines);
- tail idle: worker-seconds spent waiting for the last run once a worker
  had nothing left (the runs do not split evenly), not counted above.

    python benchmarks/dist_sweep.py --steps 300 --out /tmp/dist_bench

Writes the table to stdout and ``benchmarks/results/dist_sweep_<date>.txt``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, cpu_model  # noqa: E402

from refrnn.files.atomic import atomic_write_text  # noqa: E402
from refrnn.experiments.grid import expand_grid  # noqa: E402
from refrnn.experiments.sweep import prebuild_caches, sweep  # noqa: E402

GRID = {"task_set": ["yang19"], "mask": ["locality", "random"], "sparsity": [0.04],
        "hidden": [256]}
SEEDS = [0, 1]


def one_sweep(out: Path, workers: int, steps: int) -> dict:
    """Run the sweep on a LocalCluster of ``workers``; its timings (s)."""
    shutil.rmtree(out, ignore_errors=True)
    stamps = []

    def echo(line):
        stamps.append((time.perf_counter(), line))

    t0 = time.perf_counter()
    rows = sweep(GRID, out, seeds=SEEDS, base={"steps": steps}, scheduler="local",
                 jobs=workers, prebuild=False, echo=echo)
    wall = time.perf_counter() - t0
    if any(r.status != "done" for r in rows):
        raise SystemExit(f"a run failed: {[r.error for r in rows]}")
    submit = next(t for t, line in stamps if line.startswith("dask:"))
    ends = {}  # worker -> (time of its last result, [task seconds])
    for t, line in stamps:
        m = re.match(r"\[\d+/\d+\] (\S+): done \(.* on (tcp://[^,)]+)", line)
        if m:
            secs = json.loads((out / m[1] / "sweep_done.json").read_text())["worker_seconds"]
            ends.setdefault(m[2], [0.0, []])
            ends[m[2]][0] = t
            ends[m[2]][1].append(secs)
    last = max(end for end, _ in ends.values())
    tasks = [x for _, secs in ends.values() for x in secs]
    busy_gap = sum(end - submit - sum(secs) for end, secs in ends.values())
    return {"workers": workers, "wall": wall, "start": submit - t0, "runs": last - submit,
            "tasks": tasks, "overhead": busy_gap / len(tasks),
            "tail": sum(last - end for end, _ in ends.values())}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default="/tmp/refrnn_dist_bench")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    base = {"steps": args.steps}
    prebuild_caches(expand_grid(GRID, seeds=SEEDS), base, print)
    load0 = os.getloadavg()[0]
    results = [one_sweep(Path(args.out) / f"w{w}", w, args.steps) for w in args.workers]
    load1 = os.getloadavg()[0]
    one = next((r for r in results if r["workers"] == 1), results[0])
    lines = [f"machine: {cpu_model()}, {os.cpu_count()} cores; load average (1 min) "
             f"{load0:.2f} at start, {load1:.2f} at end (a shared machine: other "
             "work was running)",
             f"sweep: 4 runs, yang19, N=256, locality/random s=0.04, seeds 0-1, "
             f"{args.steps} updates, other settings default; scheduler=local",
             "workers   wall s  start s   runs s  speed-up   task s (each)"
             "                 overhead/run s  (% of mean task)  tail idle s"]
    for r in results:
        mean_task = sum(r["tasks"]) / len(r["tasks"])
        lines.append(
            f"{r['workers']:>7} {r['wall']:>8.1f} {r['start']:>8.1f} {r['runs']:>8.1f} "
            f"{one['wall'] / r['wall']:>9.2f}   {' '.join(f'{t:6.1f}' for t in r['tasks'])}"
            f"   {r['overhead']:>12.2f}  ({100 * r['overhead'] / mean_task:.2f}%)"
            f"  {r['tail']:>10.1f}")
    text = "\n".join(lines)
    print(text)
    path = Path(ROOT) / "benchmarks" / "results" / f"dist_sweep_{time.strftime('%Y-%m-%d')}.txt"
    atomic_write_text(path, text + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
