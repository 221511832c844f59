"""Look inside the trained networks of a sweep: docs/results.md, "Inside the trained networks".

Runs ``refrnn.analysis`` (what ``refrnn analyze`` does) on the best
checkpoint of every finished run folder of SWEEP_DIR (one or more ``refrnn
sweep --out`` folders, labels ``<task set>_<mask>...``), writes each run's
CSVs into RUN/analysis_best, and writes (NAME: --name, default "inside"):

    DOCS/results/NAME/runs.csv        one row per run (refrnn.analysis.tables.summary_row + perf)
    DOCS/results/NAME/by_config.csv   mean and sample std over seeds per configuration
    DOCS/results/NAME/by_family.csv   per run and task family, the delay-start search
    DOCS/results/NAME/*.png           comparison figure, and the seed-0 figures of each config
    the block between the NAME_networks markers of DOCS/results.md

    python examples/inside_networks.py /work/runs_analysis/sweep --docs docs
    python examples/inside_networks.py runs/conv/n256 runs/conv/n1280 --name converged

Each run's row says under which analysis rules it was measured (``rules``):
"current" for a summary written by refrnn's current analysis (Yang et al.'s
task variance, slow points minimised to convergence; its summary.csv has
``tv_statistic``), "earlier" for one written by the earlier analysis (task
variance over every step, a capped slow-point search). With --keep-other the
rows of configurations not in SWEEP_DIR are kept from the committed runs.csv
and by_family.csv (with their rules; the older spellings "36/37" and
"pre-36/37" of committed files are read as "current" and "earlier") instead
of dropped; the tables mark every configuration measured under the earlier
rules with a dagger.
"""
from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refrnn.analysis.report import analyze_run  # noqa: E402
from refrnn.analysis.tables import summary_row  # noqa: E402
from refrnn.files.atomic import atomic_write_text  # noqa: E402
from refrnn.files.tables import write_csv  # noqa: E402



def markers(name: str):
    """The lines of DOCS/results.md between which the block of ``name`` stands."""
    return f"<!-- {name}_networks:begin -->", f"<!-- {name}_networks:end -->"


METRICS = ("perf", "n_clusters", "silhouette", "pr_all", "pr_task_mean", "var_pc3",
           "fp_per_task", "stable_per_task", "frac_continuous", "set_dim_mean",
           "delay_fp_per_task", "delay_stable_per_task", "delay_frac_continuous",
           "delay_set_dim_mean")
DELAY_KEYS = ("delay_tasks", "delay_fp_per_task", "delay_stable_per_task",
              "delay_tasks_continuous", "delay_set_dim_mean")
FIGS = ("task_variance.png", "fixed_points.png", "pca_trajectories.png")
NEW_RULES, OLD_RULES = "current", "earlier"
# how runs.csv and by_family.csv spelled the two before: read as the names above
LEGACY_RULES = {"36/37": NEW_RULES, "pre-36/37": OLD_RULES}
OLD_NOTE = ("† measured under the earlier rules (task variance over every step "
            "from the trial's start; slow-point search capped at 200 iterations, "
            "continuous set by the old heuristic: at least 5 unique slow points and "
            "the median one with an eigenvalue within 0.05 of 1), kept from an earlier "
            "`runs.csv`; the other rows under the current rules (docs/analysis.md).")


def best_perf(run: Path) -> float:
    with open(run / "metrics.csv", newline="") as f:
        return max(float(r["mean_perf"]) for r in csv.DictReader(f))


def label_seed(run: Path):
    label, _, seed = run.name.rpartition("__seed")
    return label, int(seed)


def analyse(sweep: Path, redo: bool, starts: int):
    rows = []
    for run in sorted(p for p in sweep.iterdir() if (p / "best.h5").is_file()
                      and (p / "eval.csv").is_file()):  # eval.csv: the run finished
        label, seed = label_seed(run)
        out = run / "analysis_best"
        t0 = time.perf_counter()
        if redo or not (out / "summary.csv").is_file():
            res, _ = analyze_run(run, "best", out=out, figures=(seed == 0), n_starts=starts)
            row = summary_row(res)
        else:
            with open(out / "summary.csv", newline="") as f:
                row = next(csv.DictReader(f))
        print(f"{run.name}: {time.perf_counter() - t0:.1f} s", flush=True)
        for key in DELAY_KEYS:  # a summary.csv written before the delay search
            row.setdefault(key, "")
        row = {"label": label, "seed": seed, "perf": best_perf(run), **row,
               "rules": NEW_RULES if "tv_statistic" in row else OLD_RULES}
        row["frac_continuous"] = int(row["tasks_continuous"]) / int(row["n_tasks"])
        n_delay = int(row["delay_tasks"] or 0)
        row["delay_frac_continuous"] = (int(row["delay_tasks_continuous"]) / n_delay
                                        if n_delay else float("nan"))
        rows.append(row)
    return rows


FAMILIES = ("base", "int", "seq", "int+seq")


def family(task: str) -> str:
    """Mod-Cog's extension of a task name (docs/tasks.md): interval
    integration (int[rl]), sequence (seq[rl] at the end), both, or none."""
    has_int = re.search(r"int[rl]", task) is not None
    has_seq = re.search(r"seq[rl]$", task) is not None
    return ("int+seq" if has_int and has_seq else "int" if has_int
            else "seq" if has_seq else "base")


def by_family(run: Path) -> list:
    """Per task family of one analysed run, from its delay-start search:
    tasks searched, their mean final perf (eval.csv), slow points per task,
    share of the points with a marginal eigenvalue (|lambda - 1| < 0.05),
    share of tasks with a continuous set."""
    out = run / "analysis_best"
    with open(out / "fixed_point_tasks.csv", newline="") as f:
        tasks = [r for r in csv.DictReader(f) if r["starts"] == "delay"]
    with open(out / "fixed_points.csv", newline="") as f:
        points = [r for r in csv.DictReader(f) if r["starts"] == "delay"]
    with open(run / "eval.csv", newline="") as f:
        perf = {r["task"]: float(r["perf"]) for r in csv.DictReader(f)}
    label, seed = label_seed(run)
    rows = []
    for fam in FAMILIES:
        ts = [r for r in tasks if family(r["task"]) == fam]
        if not ts:
            continue
        ps = [r for r in points if family(r["task"]) == fam]
        known = [perf[r["task"]] for r in ts if r["task"] in perf]
        rows.append({"label": label, "seed": seed, "family": fam, "tasks": len(ts),
                     "final_perf": np.mean(known) if known else float("nan"),
                     "points_per_task": len(ps) / len(ts),
                     "marginal_share": (np.mean([int(r["n_marginal"]) >= 1 for r in ps])
                                        if ps else float("nan")),
                     "continuous_share": np.mean([int(r["continuous"]) for r in ts])})
    return rows


def _name(label, old) -> str:
    return f"{label} †" if label in old else label


def family_block(fam_rows, old=()) -> list:
    """Markdown lines: the by_family rows, mean ± sample std over seeds."""
    lines = ["", "By task family, from delay-period starts (Mod-Cog's interval-integration "
             "`int`, sequence `seq` and combined extensions of the base tasks; yang19 is "
             "base only): the tasks' final perf, share of slow points with an eigenvalue "
             "within 0.05 of 1, and share of tasks with a continuous set:", "",
             "| configuration | family | tasks | final perf | slow points / task | points "
             "with a marginal eigenvalue | tasks with a continuous set |",
             "|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["label"], r["family"]) for r in fam_rows))
    for label, fam in keys:
        g = [r for r in fam_rows if (r["label"], r["family"]) == (label, fam)]
        cells = []
        for m, fmt in (("final_perf", "{:.3f}"), ("points_per_task", "{:.2f}"),
                       ("marginal_share", "{:.0%}"),
                       ("continuous_share", "{:.0%}")):
            v = np.array([r[m] for r in g], dtype=float)
            v = v[~np.isnan(v)]
            cells.append("-" if not v.size else fmt.format(v.mean()) + (
                " ± " + fmt.format(v.std(ddof=1)) if v.size > 1 else ""))
        lines.append(f"| {_name(label, old)} | {fam} | {g[0]['tasks']} | "
                     + " | ".join(cells) + " |")
    return lines


def read_csv(path: Path) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def kept_rows(dest: Path, name: str, labels) -> list:
    """The rows of DEST/NAME (a committed runs.csv or by_family.csv) whose
    configuration is not in ``labels``; a row without ``rules`` was measured
    under the earlier rules, and an older spelling of a rule set is renamed."""
    if not (dest / name).is_file():
        return []
    return [{**r, "rules": rules_name(r.get("rules"))} for r in read_csv(dest / name)
            if r["label"] not in labels]


def rules_name(value) -> str:
    """The rule-set name of a committed row's ``rules`` cell ('' or missing:
    the earlier rules; "36/37" and "pre-36/37", the older spellings, renamed)."""
    value = (value or "").strip()
    return LEGACY_RULES.get(value, value) or OLD_RULES


def same_columns(rows) -> list:
    """The rows with the union of their columns (first-seen order), '' where missing."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k, "") for k in keys} for r in rows]


def aggregate(rows):
    out = []
    for label in dict.fromkeys(r["label"] for r in rows):
        group = [r for r in rows if r["label"] == label]
        agg = {"label": label, "seeds": len(group),
               "rules": "+".join(dict.fromkeys(r.get("rules") or OLD_RULES for r in group))}
        for m in METRICS:
            v = np.array([float(r[m]) if r.get(m, "") != "" else np.nan for r in group])
            agg[m] = float(v.mean())
            agg[m + "_std"] = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        agg["seconds"] = float(np.mean([float(r["seconds"]) for r in group]))
        out.append(agg)
    return out


def _cell(a, m, fmt):
    s = a[m + "_std"]
    return fmt.format(a[m]) + ("" if np.isnan(s) else " ± " + fmt.format(s))


def block(agg, rows, sweep, starts, fam_rows=(), keep=False, name="inside"):
    old = {a["label"] for a in agg if OLD_RULES in a.get("rules", "")}
    kept = sum(r.get("kept", False) for r in rows)
    def runs(n):
        return f"{n} run{'' if n == 1 else 's'}"
    what = (f"{runs(len(rows) - kept)} analysed and {runs(kept)} kept from the committed "
            "`runs.csv`" if kept else runs(len(rows)))
    sweeps = " ".join(map(str, sweep)) if isinstance(sweep, (list, tuple)) else sweep
    lines = [f"Generated by `python examples/inside_networks.py {sweeps}"
             f"{' --keep-other' if keep else ''}{'' if name == 'inside' else ' --name ' + name}`"
             f" ({starts} "
             "fixed-point starts per task and set of starts) on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {what} "
             "(best checkpoints), mean ± sample std over seeds."]
    lines += (["", OLD_NOTE] if old else []) + ["",
             "| configuration | seeds | best perf | clusters (k) | silhouette | PR all tasks "
             "| PR per task | PC1-3 share | slow points / task | stable / task "
             "| tasks with a continuous set | set dim | analysis s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    delay = ["", "The same search from delay-period starts (tasks with a delay only: "
             "11 of 20 yang19, 99 of 126 modcog):", "",
             "| configuration | seeds | slow points / task | stable / task "
             "| tasks with a continuous set | set dim |", "|---|---|---|---|---|---|"]
    for a in agg:
        lines.append(
            f"| {_name(a['label'], old)} | {a['seeds']} | {_cell(a, 'perf', '{:.3f}')} "
            f"| {_cell(a, 'n_clusters', '{:.1f}')} | {_cell(a, 'silhouette', '{:.3f}')} "
            f"| {_cell(a, 'pr_all', '{:.1f}')} | {_cell(a, 'pr_task_mean', '{:.1f}')} "
            f"| {_cell(a, 'var_pc3', '{:.2f}')} | {_cell(a, 'fp_per_task', '{:.2f}')} "
            f"| {_cell(a, 'stable_per_task', '{:.2f}')} "
            f"| {_cell(a, 'frac_continuous', '{:.0%}')} | {_cell(a, 'set_dim_mean', '{:.2f}')} "
            f"| {a['seconds']:.0f} |")
        delay.append(
            f"| {_name(a['label'], old)} | {a['seeds']} "
            f"| {_cell(a, 'delay_fp_per_task', '{:.2f}')} "
            f"| {_cell(a, 'delay_stable_per_task', '{:.2f}')} "
            f"| {_cell(a, 'delay_frac_continuous', '{:.0%}')} "
            f"| {_cell(a, 'delay_set_dim_mean', '{:.2f}')} |")
    lines += delay + family_block(fam_rows, old) + [
        "", f"![{name}_comparison](results/{name}/comparison.png)"]
    return "\n".join(lines)


def comparison_figure(agg, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from refrnn.files.atomic import atomic_output
    panels = (("perf", "best mean perf"), ("n_clusters", "clusters (k)"),
              ("pr_all", "participation ratio"), ("fp_per_task", "slow points per task"),
              ("frac_continuous", "share of tasks with a continuous set"),
              ("delay_frac_continuous", "the same, from delay starts"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.2))
    labels = [a["label"] for a in agg]
    colors = ["C0" if lab.startswith("yang19") else "C1" for lab in labels]
    for ax, (m, title) in zip(axes, panels):
        ax.bar(range(len(agg)), [a[m] for a in agg], color=colors,
               yerr=[0 if np.isnan(a[m + "_std"]) else a[m + "_std"] for a in agg])
        ax.set_xticks(range(len(agg)))
        ax.set_xticklabels([lab.replace("_N256", "") for lab in labels], rotation=90,
                           fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path, nargs="+")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--name", default="inside",
                    help="DOCS/results/NAME/ and the NAME_networks block of results.md")
    ap.add_argument("--redo", action="store_true", help="analyse again runs already analysed")
    ap.add_argument("--starts", type=int, default=16, help="fixed-point starts per task")
    ap.add_argument("--keep-other", action="store_true",
                    help="keep the committed rows (DOCS/results/inside/runs.csv, "
                         "by_family.csv) of configurations not in SWEEP")
    args = ap.parse_args(argv)
    rows = [r for sweep in args.sweep for r in analyse(sweep, args.redo, args.starts)]
    if not rows:
        sys.exit(f"no finished runs in {' '.join(map(str, args.sweep))}")
    fam_rows = [r for run in sorted(p for sweep in args.sweep for p in sweep.iterdir()
                                    if (p / "analysis_best" / "fixed_point_tasks.csv").is_file())
                for r in by_family(run)]
    dest = args.docs / "results" / args.name
    if args.keep_other:
        labels = {r["label"] for r in rows}
        rows = sorted(rows + [{**r, "kept": True} for r in kept_rows(dest, "runs.csv", labels)],
                      key=lambda r: (r["label"], int(r["seed"])))
        rules = {r["label"]: r["rules"] for r in rows}
        fam_rows = sorted([{**r, "rules": rules.get(r["label"], NEW_RULES)} for r in fam_rows]
                          + kept_rows(dest, "by_family.csv", labels),
                          key=lambda r: (r["label"], int(r["seed"])))
    agg = aggregate(rows)
    write_csv(dest / "runs.csv", same_columns([{k: v for k, v in r.items() if k != "kept"}
                                               for r in rows]))
    write_csv(dest / "by_config.csv", agg)
    if fam_rows:
        write_csv(dest / "by_family.csv", same_columns(fam_rows))
    comparison_figure(agg, dest / "comparison.png")
    for a in agg:  # the seed-0 figures of each configuration
        for src in (sweep / f"{a['label']}__seed0" / "analysis_best" for sweep in args.sweep):
            for name in FIGS:
                if (src / name).is_file():
                    shutil.copyfile(src / name, dest / f"{a['label']}_{name}")
    page = args.docs / "results.md"
    text = page.read_text(encoding="utf-8") if page.is_file() else ""
    begin, end = markers(args.name)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = (head + begin + "\n\n" + block(agg, rows, args.sweep, args.starts, fam_rows,
                                              args.keep_other, args.name)
                + "\n\n" + end + rest.split(end, 1)[1])
        atomic_write_text(page, text)
    else:
        print(block(agg, rows, args.sweep, args.starts, fam_rows, args.keep_other, args.name))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
