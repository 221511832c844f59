"""Step time and peak memory against N at a fixed in-degree k (synapses ~ N * k).

At k = 100 (the biological regime: each neuron keeps its number of inputs as
the network grows) refrnn's locality-masked step should cost like N * k and
PyTorch's dense masked twin like N^2. Each point is one configuration of
benchmarks/step.py (T=350, B=64, forward + backward + Adam, float32) in its
own subprocess, both sides on one thread (the load-robust comparison on a
shared machine). Prints a table and writes a log-log figure.

    python benchmarks/scaling.py [--k 100] [--sizes 256 1024 4096 16384]
        [--torch-max 4096] [--reps 2] [--figure docs/img/scaling.png] [--json PATH]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import common  # noqa: E402
import step  # noqa: E402

BIG = 4096  # from this N on, one timed step (after the warm-up one)


def figure(rows, k: int, path: str) -> None:
    """Log-log step time and peak memory against N, with N*k and N^2 guides."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for side, style in (("refrnn", "o-"), ("torch", "s--")):
        pts = [(r["N"], r[side]) for r in rows if r.get(side)]
        if not pts:
            continue
        ns = [n for n, _ in pts]
        label = "refrnn (sheet blocks)" if side == "refrnn" else "PyTorch dense masked"
        ax_t.plot(ns, [p["median_ms"] / 1e3 for _, p in pts], style, label=label)
        ax_m.plot(ns, [p["peak_rss_mb"] / 1024 for _, p in pts], style, label=label)
    first = rows[0]
    for side, power, name in (("refrnn", 1, "~ N k"), ("torch", 2, "~ N^2")):
        if first.get(side):
            n0, t0 = first["N"], first[side]["median_ms"] / 1e3
            ns = [r["N"] for r in rows]
            ax_t.plot(ns, [t0 * (n / n0) ** power for n in ns], ":", color="grey", lw=1)
            ax_t.annotate(name, (ns[-1], t0 * (ns[-1] / n0) ** power), fontsize=8, color="grey")
    for ax, what in ((ax_t, "seconds per training step"), (ax_m, "peak memory (GiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("N (neurons)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"one training step at in-degree k = {k} (T=350, B=64, 1 thread)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=100, help="in-degree (default 100)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--torch-max", type=int, default=4096,
                    help="largest N for PyTorch (its dense step grows like N^2)")
    ap.add_argument("--reps", type=int, default=2, help=f"timed steps below N = {BIG} (1 above)")
    ap.add_argument("--figure", default=None, help="write the log-log figure here (PNG)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.k < 1 or any(n < args.k for n in args.sizes):
        ap.error("--k must be >= 1 and every N >= k")
    info = common.machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}; "
          + ", ".join(f"{b['internal_api']} {b['version']} kernel={b['architecture']}"
                      for b in info["blas"]))
    print(f"k = {args.k}; both sides on 1 thread; load average at start {os.getloadavg()[0]:.2f}")
    print(f"| N | nnz | refrnn s | refrnn peak MiB | PyTorch s | PyTorch peak MiB | ratio | load |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for n in sorted(args.sizes):
        reps = 1 if n >= BIG else args.reps
        s = args.k / n
        row = {"N": n, "refrnn": step.run_worker("refrnn", n, s, reps, 1), "torch": None,
               "load1": os.getloadavg()[0]}
        if n <= args.torch_max:
            row["torch"] = step.run_worker("torch", n, s, reps, 1)
        r, t = row["refrnn"], row["torch"]
        tt = f"{t['median_ms'] / 1e3:.2f} | {t['peak_rss_mb']:.0f}" if t else "- | -"
        ratio = f"{r['median_ms'] / t['median_ms']:.3f}" if t else "-"
        print(f"| {n} | {r['nnz']} | {r['median_ms'] / 1e3:.2f} | {r['peak_rss_mb']:.0f} | {tt} | "
              f"{ratio} | {row['load1']:.1f} |", flush=True)
        rows.append(row)
    big = [r for r in rows if r["N"] >= 1024]
    if len(big) >= 2:
        a, b = big[0], big[-1]
        slope = math.log(b["refrnn"]["median_ms"] / a["refrnn"]["median_ms"]) / math.log(b["N"] / a["N"])
        print(f"refrnn log-log slope of step time, N = {a['N']} .. {b['N']}: {slope:.2f} (1 = like N k)")
    if args.figure:
        figure(rows, args.k, args.figure)
        print(f"wrote {args.figure}")
    if args.json:
        common.write_json_atomic(args.json, {"machine": info, "k": args.k, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
