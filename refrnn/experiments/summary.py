"""Read run directories back: learning curves, per-run and per-config summaries.

Used by :mod:`refrnn.experiments.sweep` (summary table) and :mod:`refrnn.experiments.plots`
(figures). Nothing here trains; a run's done marker is read through
:mod:`refrnn.experiments.one_run`, which writes it.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..run.metrics_csv import Curve, read_metrics  # metrics.csv: written and read there
from ..files.tables import format_table
from .one_run import DONE_MARKER, has_done_marker, read_done_marker

THRESHOLDS = (0.8, 0.9)


def steps_to_reach(curve: Curve, level: float):
    """First logged step whose mean performance is >= level, else None."""
    hit = np.flatnonzero(curve.mean_perf >= level)
    return int(curve.steps[hit[0]]) if hit.size else None


@dataclasses.dataclass
class RunSummary:
    """One run of a sweep, summarised from its metrics log."""

    label: str
    seed: int
    run_dir: str
    status: str  # "done" or "failed"
    final_step: int | None = None
    final_perf: float | None = None
    steps_to_80: int | None = None
    steps_to_90: int | None = None
    wall_s: float | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarize_run(run_dir: Path, label: str, seed: int,
                  error: str | None = None) -> RunSummary:
    """Summarise one run directory; a missing/unreadable log is a failure.

    ``wall_s`` is the last ``seconds`` entry of metrics.csv (train's own
    clock, across resumes) or, without one, the marker's worker time.
    """
    row = RunSummary(label, seed, str(run_dir), "failed", error=error)
    try:
        curve = read_metrics(run_dir)
    except ValueError as exc:
        row.error = row.error or str(exc)
        return row
    row.final_step = int(curve.steps[-1])
    row.final_perf = float(curve.mean_perf[-1])
    row.steps_to_80 = steps_to_reach(curve, THRESHOLDS[0])
    row.steps_to_90 = steps_to_reach(curve, THRESHOLDS[1])
    wall = float(curve.seconds[-1])
    if math.isnan(wall):
        wall = float((read_done_marker(run_dir) or {}).get("worker_seconds", math.nan))
    row.wall_s = None if math.isnan(wall) else round(wall, 3)
    if error is None and has_done_marker(run_dir):
        row.status = "done"
    elif error is None:
        row.error = f"unfinished (no {DONE_MARKER})"
    return row


def seed_stats(values):
    """(mean, sample std (ddof=1; 0 for one value), min, max) of the values
    that are not None; all None when there are none."""
    vals = np.array([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return None, None, None, None
    std = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return float(vals.mean()), std, float(vals.min()), float(vals.max())


def aggregate(rows: list[RunSummary]) -> list[dict]:
    """Mean, sample std (ddof=1), min and max over seeds per label.

    Failed runs count in ``n_failed`` only. ``steps_to_80`` statistics are
    over the seeds that reached 80%; ``reached_80`` says how many did.
    """
    out = []
    for label in dict.fromkeys(r.label for r in rows):
        done = [r for r in rows if r.label == label and r.status == "done"]
        agg = {"label": label, "n_seeds": len(done),
               "n_failed": sum(r.label == label and r.status != "done"
                               for r in rows)}
        for key in ("final_perf", "steps_to_80", "steps_to_90", "wall_s"):
            mean, std, lo, hi = seed_stats(getattr(r, key) for r in done)
            agg.update({f"{key}_mean": mean, f"{key}_std": std,
                        f"{key}_min": lo, f"{key}_max": hi})
        for level in ("80", "90"):
            agg[f"reached_{level}"] = sum(
                getattr(r, f"steps_to_{level}") is not None for r in done)
        out.append(agg)
    return out


def _fmt(mean, std, digits, n=None, of=None):
    if mean is None:
        return f"never (0/{of})" if of else "-"
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    return text + (f" ({n}/{of})" if of is not None and n != of else "")


def summary_table(aggregated: list[dict]) -> str:
    """A fixed-width text table of :func:`aggregate`'s rows (mean ± std)."""
    head = ("configuration", "seeds", "final mean perf", "steps to 80%",
            "steps to 90%", "wall s")
    body = [(a["label"],
             f"{a['n_seeds']}" + (f" ({a['n_failed']} failed)" if a["n_failed"] else ""),
             _fmt(a["final_perf_mean"], a["final_perf_std"], 3),
             _fmt(a["steps_to_80_mean"], a["steps_to_80_std"], 0,
                  a["reached_80"], a["n_seeds"]),
             _fmt(a["steps_to_90_mean"], a["steps_to_90_std"], 0,
                  a["reached_90"], a["n_seeds"]),
             _fmt(a["wall_s_mean"], a["wall_s_std"], 0))
            for a in aggregated]
    return format_table(head, body)
