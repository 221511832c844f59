"""A run's ``metrics.csv``: one row per evaluation, written and read here alone.

Columns (:func:`metrics_columns`)::

    step, loss, mean_perf, mean_decision_acc, mean_perf_yang2019, mean_perf_neurogym,
    perf_<task>..., acc_<task>..., seconds

``loss`` is the mean training loss since the previous row (empty at step 0),
the means are refrnn's perf, decision accuracy and the Yang 2019 and neurogym
perf (refrnn.score.rules); per-task columns use refrnn's rule; ``seconds``
is the run's training time so far. The file is rewritten whole, atomically,
for every row, so a full disk cannot cut a row in half.
"""
from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from ..score.evaluation import MEAN
from ..files.atomic import atomic_write_text
from ..files.errors import file_errors

METRICS_FILE = "metrics.csv"
LITERATURE_COLUMNS = ["mean_perf_yang2019", "mean_perf_neurogym"]
TASK_PREFIX = "perf_"  # per-task performance columns: perf_<task>


class MetricsMismatch(ValueError):
    """metrics.csv has other columns than the run that wants to continue it."""


def metrics_columns(names) -> list:
    """The header for task names ``names`` (one-hot order)."""
    return (["step", "loss", "mean_perf", "mean_decision_acc"] + LITERATURE_COLUMNS
            + [f"perf_{t}" for t in names] + [f"acc_{t}" for t in names] + ["seconds"])


def start_metrics(run_dir, names) -> Path:
    """Write ``run_dir/metrics.csv`` holding the header only."""
    return atomic_write_text(Path(run_dir) / METRICS_FILE,
                             ",".join(metrics_columns(names)) + "\n")


def append_row(run_dir, names, step: int, loss: float, res: dict, seconds: float) -> None:
    """Add the row of one evaluation ``res`` (refrnn.score.evaluation.evaluate's dict).

    ``loss`` NaN is written as an empty field (no update since the last row).
    """
    m = res[MEAN]
    row = ([step, "" if math.isnan(loss) else repr(loss),
            repr(m["perf"]), repr(m["decision_acc"])]
           + [repr(m[c[len("mean_"):]]) for c in LITERATURE_COLUMNS]
           + [repr(res[t]["perf"]) for t in names]
           + [repr(res[t]["decision_acc"]) for t in names]
           + [f"{seconds:.3f}"])
    path = Path(run_dir) / METRICS_FILE
    with file_errors(path, "read"):
        text = path.read_text(encoding="utf-8")
    atomic_write_text(path, text + ",".join(str(v) for v in row) + "\n")


def trim_rows(run_dir, names, step: int) -> None:
    """Keep the header and the rows up to ``step`` (a resume from that step).

    A missing file is started afresh; MetricsMismatch when its header is not
    the one of ``names``, or when the file is damaged (not UTF-8 text, a row
    with too few or too many fields, a step or score that is no number): one
    line naming the file, the row and what to do, and nothing is rewritten.
    """
    path = Path(run_dir) / METRICS_FILE
    header = metrics_columns(names)
    rows = []
    if path.is_file():
        with file_errors(path, "read"):
            data = path.read_bytes()
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise _damaged(path, f"is not text (byte {e.start} is not UTF-8)") from None
        reader = csv.reader(lines)
        try:
            if next(reader, None) != header:
                raise MetricsMismatch(f"{str(path)!r} has other columns than this run; "
                                      "move it away to resume with a new log")
            for n, row in enumerate(reader, start=2):
                if row:
                    _check_row(path, n, row, header)
                    if int(row[0]) <= step:
                        rows.append(row)
        except csv.Error as e:
            raise _damaged(path, f"is not CSV ({e})") from None
    lines = [",".join(header)] + [",".join(row) for row in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _check_row(path, n, row, header):
    """MetricsMismatch unless line ``n`` holds one field per column, an integer
    step and numbers (or the empty loss of step 0) elsewhere."""
    if len(row) != len(header):
        raise _damaged(path, f"line {n} has {len(row)} of {len(header)} fields")
    try:
        int(row[0])
        for value in row[1:]:
            if value != "":
                float(value)
    except ValueError:
        raise _damaged(path, f"line {n} holds something other than numbers: "
                             f"{','.join(row)[:60]!r}") from None


def _damaged(path, what) -> MetricsMismatch:
    whole = what.startswith("is not")  # no line to repair: the file as a whole
    todo = ("delete it (the resumed run then starts a new log)" if whole else
            "repair or delete that line (or delete the file: the resumed run then "
            "starts a new log)")
    return MetricsMismatch(f"{str(path)!r} is damaged: {what}; {todo} and resume again")


def read_rows(run_dir) -> list:
    """Every row as a dict column -> text (csv.DictReader), in file order."""
    path = Path(run_dir) / METRICS_FILE
    with file_errors(path, "read"), open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclasses.dataclass
class Curve:
    """A run's metrics log as arrays.

    Attributes:
        steps: (E,) int, the training step of each evaluation.
        mean_perf: (E,) float, mean performance over tasks.
        seconds: (E,) float, wall time since the run started (NaN if absent).
        task_perf: dict task name -> (E,) float.
    """

    steps: np.ndarray
    mean_perf: np.ndarray
    seconds: np.ndarray
    task_perf: dict


def read_metrics(run_dir) -> Curve:
    """Read ``run_dir/metrics.csv`` as a Curve (ValueError naming the file if unusable).

    Needs the columns step and mean_perf; seconds and perf_<task> are optional.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} has no evaluation rows")
    cols = list(rows[0])
    for need in ("step", "mean_perf"):
        if need not in cols:
            raise ValueError(f"{path}: no column {need!r}; columns are {cols}")

    def column(name):
        return np.array([float(r[name]) if r[name] not in ("", None) else np.nan
                         for r in rows])

    tasks = {c[len(TASK_PREFIX):]: column(c) for c in cols if c.startswith(TASK_PREFIX)}
    seconds = column("seconds") if "seconds" in cols else np.full(len(rows), np.nan)
    return Curve(column("step").astype(int), column("mean_perf"), seconds, tasks)
