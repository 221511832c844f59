"""The CSV files ``refrnn analyze`` writes for one Analysis (refrnn.analysis.report).

    TABLES                               each file's name and first columns
    summary_row(analysis)                the run's headline numbers, one row
    fixed_point_rows(analysis, starts)   one row per task's fixed-point search
    write_tables(analysis, out_dir)      every table, atomically -> list of paths

docs/analysis.md defines every column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files.tables import write_csv
from .clusters import tasks_served


def _f(v, digits=6):
    return f"{float(v):.{digits}g}"


def fixed_point_rows(res, starts="activity"):
    """One row per task searched from ``starts`` ("activity" or "delay"):
    starts, converged, unique points, their stability, the largest
    continuous set (docs/analysis.md)."""
    rows = []
    found, sets = (res.fixed, res.sets) if starts == "activity" else \
        (res.fixed_delay, res.sets_delay)
    for task, fp in found.items():
        big = sets[task][0] if sets[task] else None
        rows.append({"task": task, "starts": starts, "n_starts": fp.n_starts,
                     "n_converged": fp.n_converged, "n_not_converged": fp.n_not_converged,
                     "n_points": fp.n_points,
                     "n_stable": int(np.sum(fp.stability == "stable")),
                     "n_mixed": int(np.sum(fp.stability == "mixed")),
                     "n_on_kink": int(np.sum(fp.n_kink > 0)),
                     "min_q": _f(fp.q.min()) if fp.n_points else "",
                     "median_marginal": _f(np.median(fp.n_marginal)) if fp.n_points else "",
                     "continuous": int(big is not None),
                     "set_points": big.members.size if big else 0,
                     "set_dim": big.dim if big else 0,
                     "set_q_path": _f(big.q_path) if big else "",
                     "eigs_complete": int(fp.complete)})
    return rows


def summary_row(res) -> dict:
    """The run's headline numbers (one CSV row; docs/analysis.md defines each)."""
    fpr = fixed_point_rows(res)
    c = res.clustering
    return {
        "run": str(res.run_dir), "checkpoint": res.checkpoint, "step": res.step,
        "task_set": res.config.get("task_set"), "mask": res.config.get("mask"),
        "hidden": res.config.get("hidden"), "n_tasks": len(res.tasks),
        "tv_statistic": res.tv.statistic,
        "n_units_kept": int(res.tv.kept.sum()), "n_units_dropped": res.tv.n_dropped,
        "n_clusters": c.k if c else "", "silhouette": _f(c.curve[c.k]) if c else "",
        "pr_all": _f(res.pr_all), "pr_task_mean": _f(np.mean(list(res.pr_task.values()))),
        "var_pc1": _f(res.var_all[0]), "var_pc3": _f(res.var_all[:3].sum()),
        "fp_per_task": _f(np.mean([r["n_points"] for r in fpr])),
        "fp_not_converged": sum(r["n_not_converged"] for r in fpr),
        "stable_per_task": _f(np.mean([r["n_stable"] for r in fpr])),
        "tasks_continuous": sum(r["continuous"] for r in fpr),
        "set_dim_mean": _f(np.mean([r["set_dim"] for r in fpr])),
        **_delay_summary(fixed_point_rows(res, "delay")),
        "seconds": _f(res.seconds, 4)}


def _delay_summary(rows) -> dict:
    """The delay-start search's headline numbers; empty cells without delays."""
    if not rows:
        return {"delay_tasks": 0, "delay_fp_per_task": "", "delay_not_converged": "",
                "delay_stable_per_task": "",
                "delay_tasks_continuous": "", "delay_set_dim_mean": ""}
    return {"delay_tasks": len(rows),
            "delay_fp_per_task": _f(np.mean([r["n_points"] for r in rows])),
            "delay_not_converged": sum(r["n_not_converged"] for r in rows),
            "delay_stable_per_task": _f(np.mean([r["n_stable"] for r in rows])),
            "delay_tasks_continuous": sum(r["continuous"] for r in rows),
            "delay_set_dim_mean": _f(np.mean([r["set_dim"] for r in rows]))}


# what write_tables writes: each file and its first columns
TABLES = {"summary.csv": ("run", "checkpoint"), "task_variance.csv": ("unit", "kept"),
          "clusters.csv": ("cluster", "n_units"), "silhouette.csv": ("k", "silhouette"),
          "ftv.csv": ("task_a", "task_b"), "dimensionality.csv": ("task", "n_states"),
          "fixed_point_tasks.csv": ("task", "starts"), "fixed_points.csv": ("task", "starts")}


def write_tables(res, out, force=False) -> list:
    """Write the analysis CSVs (names: TABLES) into ``out`` (atomically; an
    existing file only when it is refrnn's, or with ``force``); returns their paths."""
    out = Path(out)
    tasks, tvr = res.tasks, res.tv
    stat = {"tv_statistic": tvr.statistic}
    labels = np.full(tvr.kept.size, -1)
    if res.clustering is not None:
        labels[tvr.kept] = res.clustering.labels
    paths = [write_csv(out / "summary.csv", force=force, record=True, rows=[summary_row(res)])]
    paths.append(write_csv(out / "task_variance.csv", force=force, record=True, rows=[
        {"unit": i, "kept": int(tvr.kept[i]), "cluster": int(labels[i]), **stat,
         **{t: _f(tvr.tv[i, a]) for a, t in enumerate(tasks)}}
        for i in range(tvr.kept.size)]))
    if res.clustering is not None:
        c = res.clustering
        served = tasks_served(c.centres, tasks)
        paths.append(write_csv(out / "clusters.csv", force=force, record=True, rows=[
            {"cluster": j, "n_units": int(np.sum(c.labels == j)),
             "tasks_served": " ".join(served[j]), **stat,
             **{t: _f(c.centres[j, a], 3) for a, t in enumerate(tasks)}}
            for j in range(c.k)]))
        paths.append(write_csv(out / "silhouette.csv", force=force, record=True, rows=[
            {"k": k, "silhouette": _f(s), "chosen": int(k == c.k), **stat}
            for k, s in c.curve.items()]))
    paths.append(write_csv(out / "ftv.csv", force=force, record=True, kind=TABLES["ftv.csv"], rows=[
        {"task_a": A, "task_b": B, "unit": int(i), "ftv": _f(v), **stat}
        for (A, B), vals in res.ftv.items() for i, v in zip(res.ftv_units[(A, B)], vals)]))
    dim = [{"task": t, "n_states": res.n_states[t], "n_delay_states": res.n_delay_states[t],
            "pr": _f(res.pr_task[t]),
            **{f"var_pc{j + 1}": _f(v) for j, v in enumerate(res.var_task[t][:3])}}
           for t in tasks]
    dim.append({"task": "all", "n_states": sum(res.n_states.values()),
                "n_delay_states": sum(res.n_delay_states.values()), "pr": _f(res.pr_all),
                **{f"var_pc{j + 1}": _f(v) for j, v in enumerate(res.var_all[:3])}})
    paths.append(write_csv(out / "dimensionality.csv", force=force, record=True, rows=dim))
    paths.append(write_csv(out / "fixed_point_tasks.csv",
                           fixed_point_rows(res) + fixed_point_rows(res, "delay"), record=True))
    rows = []
    for starts, task, fp, sets in \
            [("activity", t, fp, res.sets[t]) for t, fp in res.fixed.items()] + \
            [("delay", t, fp, res.sets_delay[t]) for t, fp in res.fixed_delay.items()]:
        xy = (fp.points - res.mean_state) @ res.pcs if fp.n_points else np.zeros((0, 3))
        in_set = np.full(fp.n_points, -1)
        for k, s in enumerate(sets):
            in_set[s.members] = k
        for p in range(fp.n_points):
            rows.append({"task": task, "starts": starts, "point": p, "q": _f(fp.q[p]),
                         "n_kink": int(fp.n_kink[p]), "stability": fp.stability[p],
                         "n_unstable": int(fp.n_unstable[p]), "slowest": _f(fp.slowest[p]),
                         "n_marginal": int(fp.n_marginal[p]), "set": int(in_set[p]),
                         "pc1": _f(xy[p, 0]), "pc2": _f(xy[p, 1]), "pc3": _f(xy[p, 2])})
    paths.append(write_csv(out / "fixed_points.csv", force=force, record=True, rows=rows,
                           kind=TABLES["fixed_points.csv"]))
    return paths
