"""One full training step, refrnn (NumPy + SciPy CSR) against PyTorch.

A step is: forward over T steps with recurrent noise, cross-entropy at every
step, backward, Adam. refrnn uses its hand-written BPTT; the PyTorch model is
the same equation with a dense masked W_rec * M, trained by autograd and
torch.optim.Adam (refrnn.verify.torch_twin.TorchRNN). Both in float32; PyTorch on
torch.set_num_threads(2), NumPy's BLAS on the threads the machine gives.

Each (side, N, sparsity) runs in a fresh subprocess, so its peak memory is its
own (see common.py for how the peak is taken). The sides never run at the
same time.

Run it on an otherwise idle machine: PyTorch's OpenMP threads spin-wait, so
with other work on the cores its 2-thread step can take tens of times
longer. The load average is printed. Where the machine cannot be had idle,
``--threads 1`` (both sides on one thread) and the "cpu ratio" column (of
process CPU time) give a load-robust comparison.

``--matrix`` times the settings users train beside the headline one
(locality 4%, relu, alpha = 1, B = 64, T = 350), one change at a time:
alpha = 0.2 (Yang's dt = 20 ms), tanh, softplus, B = 16, T = 100 and 500,
ring and random masks (the random one runs the CSR kernel); it prints each
ratio refrnn / PyTorch and its quotient by the headline ratio at the same N
(the goal: at most 1.2), of wall-clock and of CPU-time ratios (the latter
robust to other load with ``--threads 1``).

    python benchmarks/step.py [--quick] [--sizes 256 1024 4096]
        [--sparsities 0.04 0.1 1.0] [--reps R] [--big-reps R] [--threads K]
        [--matrix] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import common  # noqa: E402

T, B, N_OBS, N_TASKS, N_OUT = 350, 64, 33, 126, 17
# Goals for the ratio refrnn / PyTorch, by (sparsity, N).
GOALS = {(0.04, 256): 0.5, (0.04, 1024): 0.25, (0.04, 4096): 0.1}
FULL_GOAL = 1.0
BIG_N = 4096
HEADLINE = {"mask": "locality", "activation": "relu", "alpha": 1.0, "B": B, "T": T}
MATRIX = [("headline", {}), ("alpha 0.2", {"alpha": 0.2}), ("tanh", {"activation": "tanh"}),
          ("softplus", {"activation": "softplus"}), ("B 16", {"B": 16}), ("T 100", {"T": 100}),
          ("T 500", {"T": 500}), ("ring", {"mask": "ring"}), ("random (CSR)", {"mask": "random"})]
MATRIX_GOAL = 1.2  # a setting's ratio at most this many times the headline's


def _import_refrnn():
    try:
        import refrnn  # noqa: F401
    except ImportError:  # run from a checkout without installing
        sys.path.insert(0, ROOT)


def _mask_kind(sparsity: float) -> str:
    return "full" if sparsity >= 1.0 else "locality"


def _build_model(n: int, sparsity: float, setting: dict = None):
    _import_refrnn()
    from refrnn.core.model import RNN, ModelConfig

    st = {**HEADLINE, "mask": _mask_kind(sparsity), **(setting or {})}
    cfg = ModelConfig(n_in=N_OBS + N_TASKS, n_out=N_OUT, hidden=n,
                      mask=st["mask"], sparsity=sparsity, activation=st["activation"],
                      alpha=st["alpha"], dtype="float32")
    return RNN(cfg, seed=0)


def _shape(setting: dict):
    st = {**HEADLINE, **(setting or {})}
    return st["T"], st["B"]


def _result(wall, cpu, setup_mb, exact, nnz) -> dict:
    return {**common.summarize(wall), "cpu_median_ms": common.summarize(cpu)["median_ms"],
            "times_s": wall, "cpu_s": cpu, "setup_rss_mb": setup_mb,
            "peak_rss_mb": common.peak_rss_mb(), "peak_is_steps_only": exact, "nnz": nnz}


def worker_refrnn(n: int, sparsity: float, reps: int, setting: dict = None) -> dict:
    """Time refrnn's step in this process; returns timing and memory."""
    from refrnn.core import losses, optim
    from refrnn.backends.backend import get_backend

    backend = get_backend("cpu")
    model = _build_model(n, sparsity, setting)
    x, labels, weights = common.make_batch(*_shape(setting), N_OBS, N_TASKS, N_OUT, seed=1)
    opt = optim.Adam(model.params, lr=1e-3)
    rng = backend.rng(2)

    def step():
        y, cache = model.forward(x, rng=rng)
        _, dy = losses.cross_entropy(y, labels, weights)
        grads = model.backward(cache, dy)
        opt.step(model.params, grads)

    setup_mb = common.rss_mb()
    exact = common.reset_peak_rss()
    wall, cpu = common.wall_and_cpu(step, reps, warmup=1)
    return _result(wall, cpu, setup_mb, exact, int(model.mask.nnz))


def worker_torch(n: int, sparsity: float, reps: int, threads: int = 2,
                 setting: dict = None) -> dict:
    """Time the dense masked PyTorch twin's step in this process."""
    import gc

    import torch

    torch.set_num_threads(threads)
    _import_refrnn()
    from refrnn.verify.torch_twin import TorchRNN, cross_entropy

    model = _build_model(n, sparsity, setting)
    twin = TorchRNN.from_refrnn(model, dtype=torch.float32)
    nnz = int(model.mask.nnz)
    del model
    gc.collect()
    x, labels, weights = common.make_batch(*_shape(setting), N_OBS, N_TASKS, N_OUT, seed=1)
    xt = torch.from_numpy(x)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(2)

    def step():
        opt.zero_grad(set_to_none=True)
        y, _ = twin(xt, generator=gen)
        loss = cross_entropy(y, labels, weights)
        loss.backward()
        opt.step()

    setup_mb = common.rss_mb()
    exact = common.reset_peak_rss()
    wall, cpu = common.wall_and_cpu(step, reps, warmup=1)
    return {**_result(wall, cpu, setup_mb, exact, nnz), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def run_worker(side: str, n: int, sparsity: float, reps: int, threads=None,
               setting: dict = None) -> dict:
    """Run one configuration in a fresh interpreter; parse its last JSON line.

    threads: None = PyTorch on 2 threads, NumPy's BLAS as the machine gives;
    an int = both sides limited to that many threads (refrnn's workers too).
    setting: changes to HEADLINE (mask, activation, alpha, B, T).
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side,
           "--n", str(n), "--sparsity", str(sparsity), "--reps", str(reps),
           "--threads", str(threads or 0), "--setting", json.dumps(setting or {})]
    env = dict(os.environ)
    if threads:  # must be set before NumPy loads its BLAS
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "REFRNN_THREADS"):
            env[var] = str(threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker N={n} s={sparsity} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_time(r: dict) -> str:
    return f"{r['median_ms']:9.1f} ({r['min_ms']:.0f}-{r['max_ms']:.0f})"


def _goal(sparsity: float, n: int):
    if sparsity >= 1.0:
        return FULL_GOAL
    return GOALS.get((round(sparsity, 4), n))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="N in {256, 1024}, 3 reps: a fast look")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.04, 0.1, 1.0])
    ap.add_argument("--reps", type=int, default=None, help="timed steps (default 5, quick 3)")
    ap.add_argument("--big-reps", type=int, default=3, help=f"timed steps at N >= {BIG_N}")
    ap.add_argument("--threads", type=int, default=0,
                    help="limit both sides to this many threads (default: PyTorch 2, "
                         "NumPy's BLAS as the machine gives)")
    ap.add_argument("--matrix", action="store_true",
                    help="the settings users train, one change at a time from the headline "
                         "(at the first of --sparsities), with ratios against the headline's")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--setting", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["refrnn", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sparsity", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        _import_refrnn()
        setting = json.loads(args.setting)
        if args.worker == "refrnn":
            out = worker_refrnn(args.n, args.sparsity, args.reps, setting)
        else:
            out = worker_torch(args.n, args.sparsity, args.reps, args.threads or 2, setting)
        print(json.dumps(out))
        return 0

    sizes = args.sizes or ([256, 1024] if args.quick else [256, 1024, 4096])
    reps = args.reps or (3 if args.quick else 5)
    for v in sizes:
        if v < 1:
            ap.error(f"--sizes: N must be >= 1, got {v}")
    for s in args.sparsities:
        if not 0.0 < s <= 1.0:
            ap.error(f"--sparsities: each must be in (0, 1], got {s}")
    if reps < 1 or args.big_reps < 1:
        ap.error("--reps and --big-reps must be >= 1")
    if args.threads < 0:
        ap.error(f"--threads must be >= 1, got {args.threads}")

    info = common.machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; python {info['python']}, "
          f"numpy {info['numpy']}; OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}")
    for lib in info["blas"]:
        print(f"BLAS (parent process): {lib['internal_api']} {lib['version']} kernel={lib['architecture']} "
              f"threads={lib['num_threads']}")
    print(f"step = forward + backward + Adam, T={T}, B={B}, n_in={N_OBS + N_TASKS}, "
          f"n_out={N_OUT}, float32; PyTorch: dense W_rec*M, {args.threads or 2} threads"
          + (f"; NumPy BLAS {args.threads} threads" if args.threads else ""))
    load = os.getloadavg()[0]
    print(f"load average (1 min) at start: {load:.2f}"
          + ("  -- warning: other work is running; timings will be inflated"
             if load > 0.5 else ""))
    if args.matrix:
        return _matrix(args, sizes, reps)
    if any(n >= BIG_N for n in sizes):
        print(f"warning: N >= {BIG_N} is slow for PyTorch (tens of seconds a step); "
              f"{args.big_reps} reps there", flush=True)
    head = (f"{'N':>5} {'s':>5} {'nnz':>9} | {'refrnn ms med (min-max)':>24} | "
            f"{'torch ms med (min-max)':>24} | {'ratio':>6} {'goal':>5} {'':4}| {'cpu ratio':>9} | "
            f"{'peak MiB refrnn':>15} {'torch':>7}")
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for n in sizes:
        r_reps = args.big_reps if n >= BIG_N else reps
        for s in args.sparsities:
            ours = run_worker("refrnn", n, s, r_reps, args.threads)
            theirs = run_worker("torch", n, s, r_reps, args.threads)
            ratio = ours["median_ms"] / theirs["median_ms"]
            cpu_ratio = ours["cpu_median_ms"] / theirs["cpu_median_ms"]
            goal = _goal(s, n)
            mark = "" if goal is None else ("ok" if ratio <= goal else "MISS")
            gtxt = "" if goal is None else f"{goal:g}"
            print(f"{n:>5} {s:>5g} {ours['nnz']:>9} | {_fmt_time(ours):>24} | "
                  f"{_fmt_time(theirs):>24} | {ratio:6.3f} {gtxt:>5} {mark:<4}| {cpu_ratio:9.3f} | "
                  f"{ours['peak_rss_mb']:15.0f} {theirs['peak_rss_mb']:7.0f}", flush=True)
            rows.append({"N": n, "sparsity": s, "refrnn": ours, "torch": theirs,
                         "ratio": ratio, "cpu_ratio": cpu_ratio, "goal": goal, "load1": os.getloadavg()[0]})
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    exact = all(r[side]["peak_is_steps_only"] for r in rows for side in ("refrnn", "torch"))
    print("ratio: of wall-clock medians. cpu ratio: of process CPU-time medians (all "
          "threads); with --threads 1 it is the load-robust estimate of the 1-thread ratio")
    print("peak MiB: RSS high-water mark of each side's own process "
          + ("during the timed steps (reset after setup)" if exact else
             "over the whole process (imports and setup included)"))
    if args.json:
        common.write_json_atomic(args.json, {"machine": info, "T": T, "B": B,
                                             "n_in": N_OBS + N_TASKS, "n_out": N_OUT,
                                             "threads": args.threads or None,
                                             "rows": rows})
        print(f"wrote {args.json}")
    return 0


def _matrix(args, sizes, reps) -> int:
    """The MATRIX of settings at each N: ratios, and each over the headline's."""
    s = args.sparsities[0]
    head = (f"{'N':>5} {'setting':14s} | {'refrnn ms':>10} | {'torch ms':>10} | {'ratio':>6} "
            f"{'cpu ratio':>9} | {'/ headline':>10} {'cpu':>5}")
    print(f"matrix at sparsity {s:g}; goal: each ratio at most {MATRIX_GOAL:g} x the headline's")
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for n in sizes:
        r_reps = args.big_reps if n >= BIG_N else reps
        base = cpu_base = None
        for name, setting in MATRIX:
            ours = run_worker("refrnn", n, s, r_reps, args.threads, setting)
            theirs = run_worker("torch", n, s, r_reps, args.threads, setting)
            ratio = ours["median_ms"] / theirs["median_ms"]
            cpu_ratio = ours["cpu_median_ms"] / theirs["cpu_median_ms"]
            base = ratio if base is None else base
            cpu_base = cpu_ratio if cpu_base is None else cpu_base
            rel, cpu_rel = ratio / base, cpu_ratio / cpu_base
            mark = "" if name == "headline" else ("ok" if rel <= MATRIX_GOAL else "MISS")
            print(f"{n:>5} {name:14s} | {ours['median_ms']:10.1f} | {theirs['median_ms']:10.1f} | "
                  f"{ratio:6.3f} {cpu_ratio:9.3f} | {rel:10.2f} {cpu_rel:5.2f} {mark}", flush=True)
            rows.append({"N": n, "sparsity": s, "setting": name, "changes": setting,
                         "refrnn": ours, "torch": theirs, "ratio": ratio, "cpu_ratio": cpu_ratio,
                         "over_headline": rel, "cpu_over_headline": cpu_rel,
                         "load1": os.getloadavg()[0]})
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        common.write_json_atomic(args.json, {"machine": common.machine_info(), "matrix": rows,
                                             "threads": args.threads or None})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
