"""The optimal-sparsity experiment: locality masks from 1% to 32%, and full.

The LM-RNN paper (Khona et al., arXiv 2207.03523) says locality-masked RNNs
reach their best "at an optimal sparsity". This experiment trains locality
masks at sparsity 0.01, 0.02, 0.04, 0.08, 0.16, 0.32 and the full network,
N = 256, on ``yang19`` and ``modcog``, 3 seeds, with the settings of
examples/paper_claims.py (2,000 updates of 32 x 200 steps, lr 2e-3, clip 1,
1,000 cached trials and 100 test trials per task, evaluation every 100
updates) and the default initial spectral radius 1.0, through ``refrnn
sweep`` (resumable; the run order is seed-major, spread over the
sparsities, so a partial sweep is balanced):

    python examples/sparsity_sweep.py --write-grid docs/results/sparsity_sweep/grid.json
    refrnn sweep --grid docs/results/sparsity_sweep/grid.json --jobs 1 --out runs/sparsity_sweep
    python examples/sparsity_sweep.py --out runs/sparsity_sweep   # table, figure, docs block

The report reads the finished runs only (unfinished cells say so) and writes
docs/results/sparsity_sweep.csv, docs/results/sparsity_sweep.png and the
block of docs/results.md between its ``sparsity_sweep`` markers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import paper_claims as pc  # noqa: E402
from refrnn.files.atomic import atomic_output, atomic_write_text  # noqa: E402
from refrnn.core.masks import in_degree  # noqa: E402
from refrnn.experiments.summary import (  # noqa: E402
    aggregate, read_metrics, seed_stats, steps_to_reach)
from refrnn.files.tables import write_csv  # noqa: E402

BEGIN, END = "<!-- sparsity_sweep:begin -->", "<!-- sparsity_sweep:end -->"
SPARSITIES = (0.04, 1.0, 0.01, 0.32, 0.16, 0.02, 0.08)  # run order; 1.0 = full
TASK_SETS = ("yang19", "modcog")
CRITERION = {"yang19": 0.8, "modcog": 0.5}  # steps to this mean perf
INIT_RADIUS = 1.0


def label(task_set: str, sparsity: float) -> str:
    mask = "full" if sparsity == 1.0 else f"locality_s{sparsity:g}"
    return f"{task_set}_{mask}_N{pc.N_FULL}"


def grid_spec(seeds: int = 3) -> dict:
    """The sweep's --grid file: base settings, configurations, seeds."""
    base = {**pc.BASE, "steps": pc.STEPS["yang19"],
            "eval_every": pc.STEPS["yang19"] // pc.EVALS_PER_RUN,
            "hidden": pc.N_FULL, "device": "cpu", "init_radius": INIT_RADIUS}
    configs = [{"label": label(ts, s), "task_set": ts,
                "mask": "full" if s == 1.0 else "locality", "sparsity": s}
               for s in SPARSITIES for ts in TASK_SETS]
    return {"base": base, "configs": configs, "seeds": list(range(seeds))}


def summarize(rows, spec) -> list[dict]:
    """One row per configuration: final perf and steps to the criterion over
    finished seeds, curve average, and what is not finished."""
    agg = {a["label"]: a for a in aggregate(rows)}
    out = []
    for c in spec["configs"]:
        done = [r for r in rows if r.label == c["label"] and r.status == "done"]
        curves = [read_metrics(r.run_dir) for r in done]
        level = CRITERION[c["task_set"]]
        reach = [steps_to_reach(cv, level) for cv in curves]
        st_mean, st_std, _, _ = seed_stats(reach)
        pf = [float(cv.mean_perf[-1]) for cv in curves]
        a = agg.get(c["label"], {})
        out.append({"task_set": c["task_set"], "mask": c["mask"], "sparsity": c["sparsity"],
                    "label": c["label"], "n_done": len(done),
                    "n_planned": len(spec["seeds"]),
                    "final_perf_mean": a.get("final_perf_mean"),
                    "final_perf_std": a.get("final_perf_std"),
                    "final_perf_seeds": " ".join(f"{p:.3f}" for p in pf),
                    "criterion": level, "steps_to_criterion_mean": st_mean,
                    "steps_to_criterion_std": st_std,
                    "reached_criterion": sum(s is not None for s in reach),
                    "curve_average": (sum(float(cv.mean_perf.mean()) for cv in curves)
                                      / len(curves)) if curves else None})
    return out


def _pm(m, s, digits, n=2):
    """mean ± std, or the one value when one seed finished."""
    if m is None:
        return "-"
    return f"{m:.{digits}f}" if n == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def table_lines(summary, task_set) -> list[str]:
    lv = CRITERION[task_set]
    lines = [f"| sparsity | k | seeds done | final mean perf | per seed | steps to {lv:.0%} "
             "| curve average |", "|---|---|---|---|---|---|---|"]
    rows = sorted((r for r in summary if r["task_set"] == task_set), key=lambda r: r["sparsity"])
    for r in rows:
        k = pc.N_FULL if r["mask"] == "full" else in_degree(pc.N_FULL, r["sparsity"])
        name = "full" if r["mask"] == "full" else f"{r['sparsity']:g}"
        n = r["n_done"]
        if not n:
            lines.append(f"| {name} | {k} | 0/{r['n_planned']} | not run yet | | | |")
            continue
        steps = (f"never (0/{n})" if not r["reached_criterion"] else
                 _pm(r["steps_to_criterion_mean"], r["steps_to_criterion_std"], 0,
                     r["reached_criterion"])
                 + ("" if r["reached_criterion"] == n else f" ({r['reached_criterion']}/{n})"))
        lines.append(f"| {name} | {k} | {n}/{r['n_planned']} | "
                     f"{_pm(r['final_perf_mean'], r['final_perf_std'], 3, n)} | "
                     f"{r['final_perf_seeds']} | {steps} | {r['curve_average']:.3f} |")
    return lines


def plot(rows, spec, path: Path) -> Path:
    """Final perf (top) and steps to the criterion (bottom) against sparsity,
    log x; one dot per finished seed, the line through the seed means."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, len(TASK_SETS), figsize=(5.8 * len(TASK_SETS), 7.6),
                             squeeze=False)
    for j, ts in enumerate(TASK_SETS):
        cfgs = sorted((c for c in spec["configs"] if c["task_set"] == ts),
                      key=lambda c: c["sparsity"])
        for i, what in enumerate(("final", "steps")):
            ax, xs, means, top = axes[i][j], [], [], 0.0
            for c in cfgs:
                curves = [read_metrics(r.run_dir) for r in rows
                          if r.label == c["label"] and r.status == "done"]
                if what == "final":
                    vals = [float(cv.mean_perf[-1]) for cv in curves]
                else:
                    vals = [v for v in (steps_to_reach(cv, CRITERION[ts]) for cv in curves)
                            if v is not None]
                ax.plot([c["sparsity"]] * len(vals), vals, "o", color="0.55", ms=4)
                if what == "steps" and curves:  # how many seeds reached the criterion
                    ax.annotate(f"{len(vals)}/{len(curves)}", (c["sparsity"], 0.94),
                                xycoords=("data", "axes fraction"), ha="center", fontsize=8)
                if vals:
                    top = max(top, max(vals))
                    xs.append(c["sparsity"])
                    means.append(float(np.mean(vals)))
            ax.plot(xs, means, "-", color="C0", lw=1.8, marker="s", ms=5)
            ax.set_xscale("log")
            ax.set_xticks([c["sparsity"] for c in cfgs])
            ax.set_xticklabels(["full" if c["sparsity"] == 1.0 else f"{c['sparsity']:g}"
                                for c in cfgs])
            ax.grid(alpha=0.3, which="both")
            if what == "final" and means:  # at least 0.1 tall: seed noise looks like noise
                mid = (min(means) + max(means)) / 2
                half = max(0.05, (max(means) - min(means)) / 2 + 0.01)
                ax.set_ylim(mid - half, mid + half)
            elif means:
                ax.set_ylim(0, top * 1.25)
            if what == "final":
                ax.set(title=f"{ts}: final mean perf after {spec['base']['steps']} updates",
                       ylabel="mean perf (refrnn rule)")
            else:
                ax.set(title=f"{ts}: updates to mean perf {CRITERION[ts]:.0%}",
                       ylabel="updates (seeds that reached it)",
                       xlabel="sparsity (fraction of connections; locality mask)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def report_lines(summary, info) -> list[str]:
    done = sum(r["n_done"] for r in summary)
    planned = sum(r["n_planned"] for r in summary)
    lines = [BEGIN, "",
             f"Generated by `python examples/sparsity_sweep.py` on {info['finished_utc']}: "
             f"{done} of {planned} runs finished (cells list the seeds that did; nothing "
             "is extrapolated).", ""]
    for ts in TASK_SETS:
        lines += [f"### {ts}", ""] + table_lines(summary, ts) + [""]
    lines += ["k: inputs per neuron, round(sparsity * 256). Mean ± sample std over the "
              "finished seeds (one value where one seed finished); steps to the criterion: first evaluation at or above it "
              "(every 100 updates), over the seeds that reached it; curve average: mean "
              "perf averaged over all evaluations (higher = learned sooner).", "",
              "![sparsity sweep](results/sparsity_sweep.png)", "", END]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "runs" / "sparsity_sweep"))
    ap.add_argument("--docs", default=str(HERE.parent / "docs"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--write-grid", metavar="FILE", help="write the sweep's --grid file and stop")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    spec = grid_spec(args.seeds)
    if args.write_grid:
        atomic_write_text(args.write_grid, json.dumps(spec, indent=1) + "\n")
        print(f"wrote {args.write_grid}")
        return 0
    rows = pc.collect_existing(Path(args.out), spec["configs"], spec["seeds"])
    summary = summarize(rows, spec)
    docs = Path(args.docs)
    res = docs / "results"
    res.mkdir(parents=True, exist_ok=True)
    write_csv(res / "sparsity_sweep.csv", summary)
    plot(rows, spec, res / "sparsity_sweep.png")
    info = {"finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    pc.replace_block(docs / "results.md", BEGIN, END, report_lines(summary, info))
    print(f"wrote {res / 'sparsity_sweep.csv'}, {res / 'sparsity_sweep.png'} and the "
          f"block in {docs / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
