"""Function calls per time step of refrnn's forward and backward loops.

Counts every call the profiler sees (Python functions and builtin C
functions and methods, e.g. ndarray.take) during one forward and one
backward pass, at T and at 2T steps, and prints the difference divided by
T: the calls each time step adds, free of the per-pass setup. The profiler
does not see ufuncs (np.matmul, np.maximum, the in-place operators), so the
NumPy kernels per step are those plus the engine's ufunc lines
(refrnn/core/engine.py). No timing, so the count is exact and the same on
any machine. It also times the fixed cost of a step: microseconds per step
at N = 8, B = 1, where the arithmetic is negligible (thread CPU time, median
of 5). A checkout of another commit can be counted with --root.

    python benchmarks/calls.py [--n 256] [--mask locality] [--alpha 1.0] [--root DIR]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys

B, N_IN, N_OUT = 8, 40, 17


def load(root):
    if root:  # drop an editable install's finder, so the checkout's refrnn is imported
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, os.path.abspath(root))
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:  # the layout since 0.2.0, then the flat one before it
        from refrnn.core.model import RNN, ModelConfig
    except ImportError:
        from refrnn.model import RNN, ModelConfig
    return RNN, ModelConfig


def count(fn):
    """(number of calls, Counter by name) made while fn() runs."""
    seen = collections.Counter()

    def prof(frame, event, arg):
        if event == "call":
            seen[f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)})"] += 1
        elif event == "c_call":
            seen[getattr(arg, "__qualname__", getattr(arg, "__name__", str(arg)))] += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return sum(seen.values()), seen


def fixed_cost(model, np, T):
    """(forward, backward) microseconds per time step of ``model`` at B = 1."""
    import statistics
    import time
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, 1, N_IN)).astype(np.float32)
    dy = rng.standard_normal((T, 1, N_OUT)).astype(np.float32)
    fw, bw = [], []
    for _ in range(6):
        t0 = time.thread_time()
        _, rec = model.forward(x)
        t1 = time.thread_time()
        model.backward(rec, dy)
        t2 = time.thread_time()
        fw.append(t1 - t0)
        bw.append(t2 - t1)
    return (statistics.median(fw[1:]) / T * 1e6, statistics.median(bw[1:]) / T * 1e6)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--mask", default="locality")
    ap.add_argument("--sparsity", type=float, default=0.04)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=20, help="T; the count runs T and 2T")
    ap.add_argument("--root", help="count the refrnn of this checkout instead")
    ap.add_argument("--top", type=int, default=8, help="list the most frequent calls per step")
    args = ap.parse_args(argv)
    os.environ["REFRNN_THREADS"] = "1"  # one thread: the helper-thread calls are not counted
    import numpy as np
    RNN, ModelConfig = load(args.root)
    cfg = ModelConfig(n_in=N_IN, n_out=N_OUT, hidden=args.n, mask=args.mask,
                      sparsity=args.sparsity, alpha=args.alpha, dtype="float32")
    rng = np.random.default_rng(0)
    per = {}
    for T in (args.steps, 2 * args.steps):
        model = RNN(cfg, seed=0)  # the same state (kept record arrays) at T and 2T
        x = rng.standard_normal((T, B, N_IN)).astype(np.float32)
        dy = rng.standard_normal((T, B, N_OUT)).astype(np.float32)
        model.forward(x)  # warm: buffers and caches made once
        f, fseen = count(lambda: model.forward(x))
        _, rec = model.forward(x)
        model.backward(rec, dy)
        b, bseen = count(lambda: model.backward(rec, dy))
        per[T] = (f, b, fseen, bseen)
    T = args.steps
    tiny = RNN(ModelConfig(n_in=N_IN, n_out=N_OUT, hidden=8, mask="full", sparsity=1.0,
                           alpha=args.alpha, dtype="float32"), seed=0)
    us = fixed_cost(tiny, np, 200)
    f = (per[2 * T][0] - per[T][0]) / T
    b = (per[2 * T][1] - per[T][1]) / T
    src = args.root or "this checkout"
    print(f"{src}: N={args.n} mask={args.mask} alpha={args.alpha:g} (forward without noise); "
          f"calls per time step: forward {f:g}, backward {b:g}; fixed cost of a step "
          f"(N=8, B=1): forward {us[0]:.1f} us, backward {us[1]:.1f} us")
    for name, idx in (("forward", 2), ("backward", 3)):
        diff = per[2 * T][idx] - per[T][idx]
        top = ", ".join(f"{k} {v / T:g}" for k, v in diff.most_common(args.top))
        print(f"  {name}: {top}")


if __name__ == "__main__":
    main()
