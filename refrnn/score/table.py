"""The evaluation table: printed after a run or ``refrnn eval``, and written as
``eval.csv`` (task, perf, decision_acc, n; the mean last)."""
from __future__ import annotations

from pathlib import Path

from .evaluation import MEAN
from ..files.ownership import text_starting_with
from ..files.tables import format_table, write_csv

HEADER = "task,perf,decision_acc,n"


def results_table(results) -> str:
    """A plain-text table: task, perf, decision accuracy, trials; mean last."""
    tasks = [k for k in results if k != MEAN]
    rows = [[t, f"{r['perf']:.3f}", f"{r['decision_acc']:.3f}", str(r["n"])]
            for t, r in ((t, results[t]) for t in tasks)]
    if MEAN in results:
        r = results[MEAN]
        rows += [None, [MEAN, f"{r['perf']:.3f}", f"{r['decision_acc']:.3f}", str(r["n"])]]
    return format_table(["task", "perf", "dec_acc", "n"], rows, right=(1, 2, 3))


def write_results_csv(results, path) -> Path:
    """Write ``results`` (refrnn.score.evaluation.evaluate's dict) as CSV, atomically."""
    tasks = [k for k in results if k != MEAN] + ([MEAN] if MEAN in results else [])
    return write_csv(path, [{"task": t, "perf": repr(float(results[t]["perf"])),
                             "decision_acc": repr(float(results[t]["decision_acc"])),
                             "n": int(results[t]["n"])} for t in tasks])


def is_eval_table(path) -> bool:
    """Whether ``path`` is a table refrnn's evaluation wrote (its header)."""
    return text_starting_with(path, HEADER)
