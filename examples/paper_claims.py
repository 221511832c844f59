"""Re-run the LM-RNN paper's central comparison with refrnn, end to end.

Khona, Chandra, Ma, Fiete (2022/2023, arXiv 2207.03523) claim that a
recurrent network wired only on a fixed local graph (4% of all connections)
performs as well as a fully connected one and learns faster; that the 20
Yang 2019 tasks are solved even by unconnected autapses, while Mod-Cog needs
recurrence. This script trains, on ``yang19`` and on ``modcog``:

    locality s=0.04, random s=0.04, full, autapse (N = 256), and locality
    s=0.1 (N = 256), each with SEEDS seeds; plus a locality network with more
    neurons and the same number of synapses as the full N = 256 network:
    N = 1280, s = 0.04 -> k = round(0.04 * 1280) = 51 inputs per neuron,
    1280 * 51 = 65,280 synapses against 256 * 256 = 65,536 (99.6%), on a
    32 x 40 sheet. (The exact alternative N = 1024, s = 0.0625, k = 64 gives
    65,536 but changes the sparsity; N = 1296 = 36^2, k = 52 gives 67,392.)

then writes the summary (CSV), the figures (PNG) and the generated part of
docs/results.md (between its ``paper_claims`` markers). It is resumable:
run it again and finished runs are skipped.

    python examples/paper_claims.py --jobs 2               # the full experiment
    python examples/paper_claims.py --scale 0.05 --seeds 1 # a quick smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refrnn.core.masks import in_degree  # noqa: E402
from refrnn.files.atomic import atomic_write_text  # noqa: E402
from refrnn.experiments.grid import expand_grid  # noqa: E402
from refrnn.experiments.sweep import sweep  # noqa: E402
from refrnn.experiments.summary import (  # noqa: E402
    aggregate, read_metrics, summarize_run)
from refrnn.files.tables import write_csv  # noqa: E402

BEGIN, END = "<!-- paper_claims:begin -->", "<!-- paper_claims:end -->"
PENDING = "not finished yet"

N_FULL = 256
BIG_N, BIG_S = 1280, 0.04  # 1280 * round(0.04 * 1280) = 65,280 ~ 256 ** 2
# Settings shared by every run at --scale 1 (see docs/results.md for why).
BASE = {"batch_size": 32, "seq_len": 200, "lr": 2e-3, "clip": 1.0,
        "trials_per_task": 1000, "eval_trials": 100}
STEPS = {"yang19": 2000, "modcog": 2000}
EVALS_PER_RUN = 20


def paper_configs(task_sets, big_hidden=BIG_N):
    """The experiment's configurations: list of dicts with a ``label``."""
    out = []
    for ts in task_sets:
        for label, mask, s, n in (
                ("locality_s0.04_N256", "locality", 0.04, N_FULL),
                ("random_s0.04_N256", "random", 0.04, N_FULL),
                ("full_N256", "full", 1.0, N_FULL),
                ("autapse_N256", "autapse", 0.04, N_FULL),
                ("locality_s0.1_N256", "locality", 0.1, N_FULL),
                (f"locality_s{BIG_S:g}_N{big_hidden}", "locality", BIG_S,
                 big_hidden)):
            out.append({"label": f"{ts}_{label}", "task_set": ts, "mask": mask,
                        "sparsity": s, "hidden": n})
    return out


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "platform": platform.platform()}


def pm(mean, std, digits=3):
    return "-" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _first_line(text, limit=160):
    line = (text or "").strip().splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit] + "..."


def _num(x):
    return "-" if x is None else f"{x:.3f}"


def _auc(rows):
    """Per label: mean over seeds of the curve's average mean perf (a
    learning-speed measure that needs no threshold)."""
    out = {}
    for r in rows:
        if r.status == "done":
            out.setdefault(r.label, []).append(
                float(read_metrics(r.run_dir).mean_perf.mean()))
    return {k: (sum(v) / len(v)) for k, v in out.items()}


def _table(agg, auc, task_set):
    lines = ["| configuration | seeds | final mean perf | min-max | steps to 80% "
             "| steps to 90% | curve average | wall s / run |",
             "|---|---|---|---|---|---|---|---|"]
    for a in agg:
        if not a["label"].startswith(task_set + "_"):
            continue
        reach = ["-" if not a["n_seeds"] else
                 f"{pm(a[f'steps_to_{k}_mean'], a[f'steps_to_{k}_std'], 0)} "
                 f"({a[f'reached_{k}']}/{a['n_seeds']})" if a[f"reached_{k}"]
                 else f"never (0/{a['n_seeds']})" for k in ("80", "90")]
        rng = ("-" if a["final_perf_min"] is None
               else f"{a['final_perf_min']:.3f}-{a['final_perf_max']:.3f}")
        fail = f" ({a['n_failed']} not done)" if a["n_failed"] else ""
        lines.append(f"| {a['label'][len(task_set) + 1:]} | {a['n_seeds']}{fail} | "
                     f"{pm(a['final_perf_mean'], a['final_perf_std'])} | {rng} | "
                     f"{reach[0]} | {reach[1]} | "
                     f"{_num(auc.get(a['label']))} | "
                     f"{pm(a['wall_s_mean'], a['wall_s_std'], 0)} |")
    return lines


def _compare(agg, auc, task_set, a, b, claim):
    """One line: configuration a against b, final perf and curve average."""
    rows = {x["label"]: x for x in agg}
    ka, kb = f"{task_set}_{a}", f"{task_set}_{b}"
    if ka not in rows or kb not in rows or rows[ka]["final_perf_mean"] is None \
            or rows[kb]["final_perf_mean"] is None:
        return f"- {task_set}, {claim}: not measured (runs missing or failed)."
    ra, rb = rows[ka], rows[kb]
    diff = ra["final_perf_mean"] - rb["final_perf_mean"]
    spread = ra["final_perf_std"] + rb["final_perf_std"]
    verdict = ("within the seed spread" if abs(diff) <= spread
               else "higher" if diff > 0 else "lower")
    return (f"- {task_set}, {claim}: final mean perf {a} − {b} = {diff:+.3f} "
            f"(sum of seed std {spread:.3f}: {verdict}); curve average "
            f"{_num(auc.get(ka))} vs {_num(auc.get(kb))}; "
            f"steps to 80% {pm(ra['steps_to_80_mean'], ra['steps_to_80_std'], 0)} "
            f"vs {pm(rb['steps_to_80_mean'], rb['steps_to_80_std'], 0)}.")


def render_report(rows, agg, info, out_dir: Path, docs: Path):
    """Write figures and CSVs under docs/results/ and the generated block of
    docs/results.md (between the paper_claims markers)."""
    from refrnn.experiments.plots import plot_runs
    res = docs / "results"
    res.mkdir(parents=True, exist_ok=True)
    write_csv(res / "summary.csv", [r.as_dict() for r in rows])
    write_csv(res / "summary_by_config.csv", agg)
    atomic_write_text(res / "run_info.json", json.dumps(info, indent=2))
    done = [r for r in rows if r.status == "done"]
    figs = plot_runs([r.run_dir for r in done], res / "paper") if done else []
    auc = _auc(rows)
    task_sets = list(dict.fromkeys(r.label.split("_", 1)[0] for r in rows))
    m = info["machine"]
    wall = info["sweep_wall_s_this_invocation"]
    wall_text = ("Report only (no training in this invocation); " if wall is None
                 else f"Wall time of this invocation: {wall:.0f} s; ")
    lines = [BEGIN, "",
             f"Generated by `{info['command']}` on {info['finished_utc']}: "
             f"{len(done)} of {len(rows)} runs finished "
             f"(scale {info['scale']}, {info['seeds']} seed(s), {info['jobs']} jobs).",
             f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
             f"NumPy {m['numpy']}. " + wall_text +
             f"sum of per-run training times: "
             f"{sum(r.wall_s or 0 for r in done):.0f} s.", ""]
    pending = [r for r in rows if r.error == PENDING]
    failed = [r for r in rows if r.status != "done" and r.error != PENDING]
    if pending:
        lines += [f"Not finished yet ({len(pending)} runs): " + ", ".join(
            Path(r.run_dir).name for r in pending) + ".", ""]
    if failed:
        lines += [f"Failed ({len(failed)} runs):", ""]
        lines += [f"- {Path(r.run_dir).name}: {_first_line(r.error)}"
                  for r in failed] + [""]
    for ts in task_sets:
        lines += [f"### {ts}", "", *_table(agg, auc, ts), ""]
    lines += ["Mean ± sample std over seeds; steps to 80%/90%: first evaluation "
              "at or above the level, over the seeds that reached it (n/N); curve "
              "average: mean perf averaged over all evaluations (higher = learned "
              "sooner).", ""]
    lines += [f"![{p.stem}](results/{p.name})" for p in figs] + [""]
    lines += ["Measured comparisons (generated):", ""]
    for ts in task_sets:
        lines.append(_compare(agg, auc, ts, "locality_s0.04_N256", "full_N256",
                              "locality 4% vs full"))
        lines.append(_compare(agg, auc, ts, "locality_s0.04_N256",
                              "random_s0.04_N256", "locality vs random at 4%"))
        lines.append(_compare(agg, auc, ts, "autapse_N256", "full_N256",
                              "autapses vs full"))
        big = next((a["label"][len(ts) + 1:] for a in agg
                    if a["label"].startswith(f"{ts}_locality_s0.04_N")
                    and not a["label"].endswith("_N256")), None)
        if big:
            n_big = int(big.rsplit("_N", 1)[1])
            syn = n_big * in_degree(n_big, BIG_S)
            lines.append(_compare(agg, auc, ts, big, "full_N256",
                                  f"locality 4% at N={n_big} ({syn:,} synapses) "
                                  f"vs full N=256 ({N_FULL ** 2:,})"))
    lines += ["", END]
    replace_block(docs / "results.md", BEGIN, END, lines)
    print(f"wrote {docs / 'results.md'} and {res}/")


def replace_block(page: Path, begin: str, end: str, lines: list[str]) -> None:
    """Replace the text from ``begin`` to ``end`` in ``page`` by ``lines``
    (which start with ``begin`` and end with ``end``); atomic write.
    A page that does not exist yet is made of the block alone."""
    text = page.read_text(encoding="utf-8") if page.is_file() else f"{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise ValueError(f"{page} lacks the {begin} / {end} markers")
    head, rest = text.split(begin, 1)
    atomic_write_text(page, head + "\n".join(lines) + rest.split(end, 1)[1])


def collect_existing(out_dir: Path, configs, seeds):
    """Summaries of the sweep's runs as they stand, training nothing; a run
    without a marker is "failed" with the sweep's failure note, or with
    "not finished yet" while it has none."""
    rows = []
    for spec in expand_grid(configs=configs, seeds=seeds):
        flag = out_dir / "_logs" / f"{spec.name}.failed"
        note = (flag.read_text(encoding="utf-8").strip() if flag.is_file()
                else PENDING)
        row = summarize_run(out_dir / spec.name, spec.label, spec.seed)
        if row.status != "done":
            row.error = note
        rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the training steps (e.g. 0.05 for a smoke run)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--task-set", action="append", dest="task_sets",
                    choices=["yang19", "modcog"], help="default: both")
    ap.add_argument("--big-hidden", type=int, default=BIG_N)
    ap.add_argument("--out", default=str(ROOT / "runs" / "paper_claims"))
    ap.add_argument("--docs", default=str(ROOT / "docs"),
                    help="writes results/ figures here and updates results.md")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--restart-failed", action="store_true",
                    help="start runs that failed last time afresh")
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: write the report from the runs "
                         "finished so far (e.g. while the sweep still runs)")
    args = ap.parse_args(argv)
    if not args.scale > 0 or args.seeds < 1 or args.jobs < 1:
        ap.error("--scale must be > 0, --seeds and --jobs >= 1")
    task_sets = args.task_sets or ["yang19", "modcog"]
    configs = []
    for cfg in paper_configs(task_sets, args.big_hidden):
        steps = max(1, round(STEPS[cfg["task_set"]] * args.scale))
        configs.append({**cfg, "steps": steps,
                        "eval_every": max(1, steps // EVALS_PER_RUN)})
    base = {**BASE, "device": args.device}
    seeds = list(range(args.seeds))
    if args.dry_run:
        for c in configs:
            print(json.dumps({**base, **c}))
        print(f"{len(configs) * len(seeds)} runs")
        return 0
    t0 = time.time()
    if args.report_only:
        rows = collect_existing(Path(args.out), configs, seeds)
    else:
        rows = sweep(None, args.out, configs=configs, seeds=seeds, base=base,
                     jobs=args.jobs, restart_failed=args.restart_failed,
                     echo=print)
    wall = None if args.report_only else time.time() - t0
    info = {"command": "python examples/paper_claims.py " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "scale": args.scale, "seeds": args.seeds, "jobs": args.jobs,
            "sweep_wall_s_this_invocation": wall and round(wall, 1),
            "base": base, "steps": {c["label"]: c["steps"] for c in configs},
            "machine": machine_info(),
            "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    render_report(rows, aggregate(rows), info, Path(args.out), Path(args.docs))
    failed = [r for r in rows if r.status != "done" and r.error != PENDING]
    for r in failed:
        print(f"FAILED {r.label} seed {r.seed}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
