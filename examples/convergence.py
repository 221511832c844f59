"""The paper's claims at convergence: Mod-Cog trained for 20,000 updates.

Khona et al. (arXiv 2207.03523) claim that a locality-masked RNN at 4%
connectivity does as well as a fully connected one and, at an optimal
sparsity, learns faster. The 2,000-update runs of examples/paper_claims.py
stopped while every curve was still rising; these runs train until the
curves flatten. Mod-Cog (126 tasks), 32 streams x 200 steps a batch, lr 2e-3,
clip 1, initial spectral radius 1.0, evaluation every 500 updates on 100
held-out trials per task, 10,000 cached training trials per task, 3 seeds:

    equal neurons (N = 256): locality 4%, locality 10%, full, random 4%
    equal synapses:          locality 4% at N = 1280 (65,280 synapses against
                             the full N = 256 network's 65,536)
    learning-rate check:     full and locality 4% at N = 256, lr 1e-3, seed 0

Each group is one resumable ``refrnn sweep`` (docs/results/convergence/):

    python examples/convergence.py --write-grids docs/results/convergence
    refrnn sweep --grid docs/results/convergence/grid_n256.json  --out runs/conv/n256
    refrnn sweep --grid docs/results/convergence/grid_n1280.json --out runs/conv/n1280
    refrnn sweep --grid docs/results/convergence/grid_lr.json    --out runs/conv/lr
    python examples/convergence.py --runs runs/conv               # table, figure, docs block

The report reads whatever the runs have logged so far (an unfinished run is
shown with the update it reached, never extrapolated): final perf, curve
average, updates and trials shown to 50-90%, perf by task family, and the 24
matching tasks with interval integration apart from the other 102. It writes
docs/results/convergence.csv, docs/results/convergence.png and the block of
docs/results.md between its ``convergence`` markers.

"Trials shown" is counted, not estimated: the training sampler of each seed
is replayed (same trials, same seed, same input-noise draws, so the same
batches as training) and every trial onset inside a batch is one trial shown.
Every configuration of a seed sees the same batches.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import paper_claims as pc  # noqa: E402
from inside_networks import FAMILIES, family  # noqa: E402  (Mod-Cog's task families)
from refrnn.experiments.grid import expand_grid  # noqa: E402
from refrnn.experiments.summary import read_metrics, seed_stats  # noqa: E402
from refrnn.files.atomic import atomic_output, atomic_write_text  # noqa: E402
from refrnn.files.tables import write_csv  # noqa: E402

BEGIN, END = "<!-- convergence:begin -->", "<!-- convergence:end -->"
LEVELS = (0.5, 0.7, 0.8, 0.9)
BASE = {"task_set": "modcog", "batch_size": 32, "seq_len": 200, "lr": 2e-3, "clip": 1.0,
        "trials_per_task": 10000, "eval_trials": 100, "steps": 20000, "eval_every": 500,
        "checkpoint_every": 250, "init_radius": 1.0}


def _cfg(label, mask, sparsity, hidden):
    return {"label": label, "mask": mask, "sparsity": sparsity, "hidden": hidden}


def grid_specs() -> dict:
    """The three sweeps' --grid files, by file stem."""
    n256 = [_cfg("modcog_locality_s0.04_N256", "locality", 0.04, 256),
            _cfg("modcog_full_N256", "full", 1.0, 256),
            _cfg("modcog_locality_s0.1_N256", "locality", 0.1, 256),
            _cfg("modcog_random_s0.04_N256", "random", 0.04, 256)]
    big = [_cfg("modcog_locality_s0.04_N1280", "locality", 0.04, 1280)]
    lr = [_cfg("modcog_full_N256_lr0.001", "full", 1.0, 256),
          _cfg("modcog_locality_s0.04_N256_lr0.001", "locality", 0.04, 256)]
    return {"grid_n256": {"base": BASE, "configs": n256, "seeds": [0, 1, 2]},
            "grid_n1280": {"base": BASE, "configs": big, "seeds": [0, 1, 2]},
            "grid_lr": {"base": {**BASE, "lr": 1e-3}, "configs": lr, "seeds": [0]}}


SWEEP_FOLDER = {"grid_n256": "n256", "grid_n1280": "n1280", "grid_lr": "lr"}


def first_reach(steps, perf, level):
    """First logged step with perf >= level, else None."""
    hit = np.flatnonzero(np.asarray(perf) >= level)
    return int(steps[hit[0]]) if hit.size else None


def metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.csv of a run, one dict per evaluation."""
    with open(Path(run_dir) / "metrics.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def family_perf(rows) -> dict:
    """Final perf averaged over the tasks of each family, from the last of
    ``rows`` (metrics_rows; its ``perf_<task>`` columns)."""
    last = rows[-1]
    out = {}
    for fam in FAMILIES:
        vals = [float(v) for k, v in last.items()
                if k.startswith("perf_") and family(k[len("perf_"):]) == fam]
        out[fam] = float(np.mean(vals)) if vals else None
    return out


# The 24 matching tasks with interval integration (dms, dnms, dmc, dnmc with
# intl/intr, with and without a sequence): full N = 256 sits at chance on
# them for thousands of updates and then solves them in a few evaluations.
MATCH_INT = re.compile(r"^(dms|dnms|dmc|dnmc)int")
SOLVED = 0.8  # the 24's mean perf at which they count as solved


def match_fields(rows, steps) -> dict:
    """From ``rows`` (metrics_rows) at ``steps`` (E,): the 24 matching tasks'
    final mean perf, the other tasks' final mean perf, and the first step at
    which the 24 average SOLVED; None where a side has no task."""
    tasks = [k[len("perf_"):] for k in rows[0] if k.startswith("perf_")]
    match = [t for t in tasks if MATCH_INT.match(t)]
    other = [t for t in tasks if t not in match]
    out = {"match_final": None, "match_solved": None, "other_final": None}
    if other:
        out["other_final"] = float(np.mean([float(rows[-1][f"perf_{t}"]) for t in other]))
    if match:
        curve = np.array([np.mean([float(r[f"perf_{t}"]) for t in match]) for r in rows])
        out.update(match_final=float(curve[-1]), match_solved=first_reach(steps, curve, SOLVED))
    return out


def run_record(run_dir: Path, label: str, seed: int, steps_planned: int):
    """What one run has logged: its curve, final perf, reach steps, family perf;
    None when it has not logged an evaluation yet."""
    try:
        curve = read_metrics(run_dir)
    except (ValueError, OSError):
        return None
    steps, perf = np.asarray(curve.steps), np.asarray(curve.mean_perf)
    rows = metrics_rows(run_dir)
    return {"label": label, "seed": seed, "run_dir": str(run_dir),
            "last_step": int(steps[-1]), "finished": int(steps[-1]) >= steps_planned,
            "steps": steps, "perf": perf, "final_perf": float(perf[-1]),
            # the curve's mean over its evaluations (every 500 updates, step 0 included):
            # the normalised area under the learning curve
            "auc": float(perf.mean()),
            "reach": {lv: first_reach(steps, perf, lv) for lv in LEVELS},
            "family": family_perf(rows), "wall_s": float(curve.seconds[-1]),
            **match_fields(rows, steps)}


def collect(runs_root: Path) -> tuple[list, dict]:
    """Every planned run's record (None where nothing is logged) and the grids."""
    specs, records = grid_specs(), []
    for stem, spec in specs.items():
        folder = runs_root / SWEEP_FOLDER[stem]
        for rs in expand_grid(configs=spec["configs"], seeds=spec["seeds"]):
            rec = run_record(folder / rs.name, rs.label, rs.seed, spec["base"]["steps"])
            records.append(rec or {"label": rs.label, "seed": rs.seed, "last_step": None,
                                   "finished": False})
    return records, specs


def trials_shown(seed: int, steps: int, eval_every: int) -> list:
    """Cumulative trials shown at steps 0, eval_every, ..., steps, counted by
    replaying seed ``seed``'s training sampler (the same batches as training).

    A trial is shown when its onset falls inside a batch (the cut last trial
    of a row counts: its first steps were trained on). Trials of one row never
    repeat a task back to back, so an onset is a change of task id along T
    (plus the row's first step).
    """
    from refrnn.run.settings import TrainConfig
    from refrnn.run.open_run import load_trials
    from refrnn.run.training import make_sampler
    cfg = TrainConfig(**{k: v for k, v in BASE.items()}, seed=seed)
    train_trials, _, names = load_trials(cfg)
    sampler = make_sampler(cfg, train_trials, names)
    counts, total = [0], 0
    for step in range(1, steps + 1):
        ids = np.asarray(sampler.next().task_ids)          # (T, B)
        total += int(ids.shape[1] + (ids[1:] != ids[:-1]).sum())
        if step % eval_every == 0:
            counts.append(total)
    return counts


def shown_at(shown: dict, seed: int, step):
    """Trials shown by ``step`` (a multiple of eval_every) for ``seed``."""
    if step is None or str(seed) not in shown:
        return None
    return shown[str(seed)][step // BASE["eval_every"]]


def summarize(records, specs, shown) -> list[dict]:
    """One row per configuration: mean and sample std over the seeds that
    finished; ``n_finished`` of ``n_planned`` and the least update reached."""
    out = []
    for stem, spec in specs.items():
        for c in spec["configs"]:
            recs = [r for r in records if r["label"] == c["label"]]
            done = [r for r in recs if r["finished"]]
            row = {"label": c["label"], "mask": c["mask"], "sparsity": c["sparsity"],
                   "hidden": c["hidden"], "lr": spec["base"]["lr"],
                   "n_planned": len(recs), "n_finished": len(done),
                   "least_step": min((r["last_step"] or 0) for r in recs),
                   "partial_step": None, "partial_perf_mean": None,
                   "partial_perf_std": None, "partial_seeds": 0}
            logged = [r for r in recs if r["last_step"] and not r["finished"]]
            if logged:  # how far the unfinished seeds are
                n = min(len(r["perf"]) for r in logged)
                m, s, _, _ = seed_stats(float(r["perf"][n - 1]) for r in logged)
                row.update({"partial_step": int(logged[0]["steps"][n - 1]),
                            "partial_perf_mean": m, "partial_perf_std": s,
                            "partial_seeds": len(logged)})
            for key in ("final_perf", "auc"):
                m, s, _, _ = seed_stats(r[key] for r in done)
                row.update({f"{key}_mean": m, f"{key}_std": s})
            for lv in LEVELS:
                reach = [r["reach"][lv] for r in done]
                m, s, _, _ = seed_stats(reach)
                tm, ts, _, _ = seed_stats(shown_at(shown, r["seed"], r["reach"][lv])
                                          for r in done)
                row.update({f"updates_to_{lv:g}_mean": m, f"updates_to_{lv:g}_std": s,
                            f"trials_to_{lv:g}_mean": tm,
                            f"reached_{lv:g}": sum(v is not None for v in reach)})
            for fam in FAMILIES:
                m, s, _, _ = seed_stats(r["family"][fam] for r in done)
                row.update({f"final_{fam}_mean": m, f"final_{fam}_std": s})
            for key in ("match_final", "other_final"):
                m, s, _, _ = seed_stats(r[key] for r in done)
                row.update({f"{key}_mean": m, f"{key}_std": s})
            row["match_solved_by_seed"] = " ".join(
                f"{r['seed']}:{'-' if r['match_solved'] is None else r['match_solved']}"
                for r in done)
            out.append(row)
    return out


def _pm(m, s, n=2, digits=3):
    """mean ± sample std; the value alone for one seed (it has no spread)."""
    if m is None:
        return "-"
    return f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if n > 1 else "")


def _reach(row, lv):
    n, of = row[f"reached_{lv:g}"], row["n_finished"]
    if not of:
        return "-"
    if not n:
        return f"not reached (0/{of})"
    text = f"{row[f'updates_to_{lv:g}_mean']:,.0f}"
    if row[f"trials_to_{lv:g}_mean"] is not None:
        text += f" ({row[f'trials_to_{lv:g}_mean'] / 1e6:.2f} M)"
    return text + (f" ({n}/{of})" if n != of else "")


def table_lines(summary) -> list[str]:
    """Markdown: the main table, then final perf by task family."""
    lines = ["| configuration | seeds | final mean perf | curve average | "
             + " | ".join(f"updates (trials) to {lv:.0%}" for lv in LEVELS) + " |",
             "|---|---|---|---|" + "---|" * len(LEVELS)]
    for r in summary:
        seeds = f"{r['n_finished']}/{r['n_planned']}"
        n = r["n_finished"]
        final = _pm(r["final_perf_mean"], r["final_perf_std"], n)
        if r["partial_step"] is not None:  # unfinished seeds: where they are, not extrapolated
            partial = _pm(r["partial_perf_mean"], r["partial_perf_std"], r["partial_seeds"])
            final += (f"; unfinished: {r['partial_seeds']} at update "
                      f"{r['partial_step']:,}: {partial}")
        lines.append(f"| {r['label']} | {seeds} | {final}"
                     f" | {_pm(r['auc_mean'], r['auc_std'], n)} | "
                     + " | ".join(_reach(r, lv) for lv in LEVELS) + " |")
    lines += ["", "Final performance by Mod-Cog task family (finished seeds):", "",
              "| configuration | " + " | ".join(FAMILIES) + " |",
              "|---|" + "---|" * len(FAMILIES)]
    for r in summary:
        lines.append(f"| {r['label']} | " + " | ".join(
            _pm(r[f"final_{f}_mean"], r[f"final_{f}_std"], r["n_finished"])
            for f in FAMILIES) + " |")
    lines += ["", "The 24 matching tasks with interval integration (dms, dnms, dmc, dnmc "
              "with intl/intr, with and without a sequence) against the other 102 tasks: "
              f"final perf (finished seeds), and the first update at which the 24 average "
              f"{SOLVED:.0%} or more, seed by seed:", "",
              "| configuration | the 24, final | the other 102, final | "
              f"24 at {SOLVED:.0%} (update, by seed) |", "|---|---|---|---|"]
    for r in summary:
        n = r["n_finished"]
        solved = ", ".join(
            f"seed {seed}: " + ("not reached" if at == "-" else f"{int(at):,}")
            for seed, at in (x.split(":") for x in r["match_solved_by_seed"].split()))
        lines.append(f"| {r['label']} | {_pm(r['match_final_mean'], r['match_final_std'], n)}"
                     f" | {_pm(r['other_final_mean'], r['other_final_std'], n)}"
                     f" | {solved or '-'} |")
    return lines


PANELS = (("equal neurons (N = 256)", ("modcog_full_N256", "modcog_locality_s0.04_N256",
                                       "modcog_locality_s0.1_N256", "modcog_random_s0.04_N256")),
          ("equal synapses", ("modcog_full_N256", "modcog_locality_s0.04_N1280")),
          ("learning rate 1e-3 (seed 0)", ("modcog_full_N256_lr0.001",
                                           "modcog_locality_s0.04_N256_lr0.001")))


def plot(records, path: Path) -> Path:
    """Mean perf against updates (log x), one panel per comparison: the mean
    of the finished seeds, a band from the lowest to the highest of them;
    each unfinished run dashed, as far as it got (never extrapolated)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 4.2), sharey=True)
    for ax, (title, labels) in zip(axes, PANELS):
        for i, label in enumerate(labels):
            done = [r for r in records if r["label"] == label and r["finished"]]
            running = [r for r in records if r["label"] == label and r["last_step"]
                       and not r["finished"]]
            name = label.replace("modcog_", "")
            words = [f"{len(done)} seed{'s' if len(done) > 1 else ''}"] if done else []
            words += [f"{len(running)} running, dashed"] if running else []
            if done:
                n = min(len(r["steps"]) for r in done)
                steps = done[0]["steps"][1:n]   # step 0 cannot be drawn on a log axis
                perf = np.stack([r["perf"][1:n] for r in done])
                ax.plot(steps, perf.mean(axis=0), color=f"C{i}", marker="o", ms=2.5,
                        label=f"{name} ({'; '.join(words)})")
                if len(done) > 1:
                    ax.fill_between(steps, perf.min(axis=0), perf.max(axis=0),
                                    color=f"C{i}", alpha=0.2, lw=0)
            for j, r in enumerate(running):
                ax.plot(r["steps"][1:], r["perf"][1:], color=f"C{i}", ls="--", lw=1,
                        label=None if done or j else f"{name} ({'; '.join(words)})")
        ax.set_xscale("log")
        ax.set_xlim(BASE["eval_every"] * 0.8, BASE["steps"] * 1.25)  # the same axis in every panel
        ax.set(title=title, xlabel="updates (32 x 200 steps)")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("mean perf, 126 Mod-Cog tasks (held-out trials)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def replay_shown(path: Path, seeds) -> dict:
    """Trials shown per seed, replayed once and kept in ``path`` (JSON)."""
    shown = json.loads(path.read_text()) if path.is_file() else {}
    for seed in seeds:
        if str(seed) not in shown:
            shown[str(seed)] = trials_shown(seed, BASE["steps"], BASE["eval_every"])
            atomic_write_text(path, json.dumps(shown) + "\n")
    return shown


def report(runs_root: Path, docs: Path, replay: bool) -> list[dict]:
    records, specs = collect(runs_root)
    shown_file = docs / "results" / "convergence" / "trials_shown.json"
    seeds = sorted({s for spec in specs.values() for s in spec["seeds"]})
    shown = (replay_shown(shown_file, seeds) if replay else
             json.loads(shown_file.read_text()) if shown_file.is_file() else {})
    summary = summarize(records, specs, shown)
    write_csv(docs / "results" / "convergence.csv", summary)
    plot(records, docs / "results" / "convergence.png")
    total = sum(r.get("wall_s") or 0.0 for r in records)
    done = sum(r["finished"] for r in records)
    lines = [f"Generated by `python examples/convergence.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"{done} of {len(records)} runs finished; "
             f"{total / 3600:.1f} hours of training logged "
             f"{'in all' if done == len(records) else 'so far'} "
             f"(the runs' own wall clocks, evaluation included, on a shared machine).", ""]
    if shown:
        per = [c[-1] for c in shown.values()]
        lines += [f"Trials shown in {BASE['steps']:,} updates: "
                  f"{np.mean(per) / 1e6:.2f} million per run, "
                  f"{np.mean(per) / (126 * BASE['trials_per_task']):.1f} showings per "
                  f"cached trial on average ({BASE['trials_per_task']:,} per task).", ""]
    lines += table_lines(summary) + ["", "![convergence](results/convergence.png)"]
    pc.replace_block(docs / "results.md", BEGIN, END, [BEGIN, "", *lines, "", END])
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-grids", metavar="DIR", help="write the sweeps' grid files and stop")
    ap.add_argument("--runs", default="runs/conv", help="folder of the three sweep folders")
    ap.add_argument("--docs", default=str(HERE.parent / "docs"))
    ap.add_argument("--no-replay", action="store_true",
                    help="do not replay the samplers (trials shown only from the saved file)")
    args = ap.parse_args(argv)
    if args.write_grids:
        for stem, spec in grid_specs().items():
            atomic_write_text(Path(args.write_grids) / f"{stem}.json",
                              json.dumps(spec, indent=1) + "\n")
        return 0
    for row in report(Path(args.runs), Path(args.docs), not args.no_replay):
        print(f"{row['label']}: {row['n_finished']}/{row['n_planned']} finished, "
              f"final {_pm(row['final_perf_mean'], row['final_perf_std'], row['n_finished'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
