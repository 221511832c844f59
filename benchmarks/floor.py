"""How far each part of refrnn's CPU step is from the machine's floor.

For one training step (T=350, B=64, Mod-Cog-shaped inputs, float32, the
shapes of benchmarks/step.py) this prints, per part: its floating-point work
(2 x multiply-adds, counting only the products the equation needs), the
floor time at the machine's measured single-precision GEMM peak, the
measured time (one thread: REFRNN_THREADS=1, BLAS at one thread; timed as
the thread's CPU time, so other work on a shared machine inflates it less
than wall time would), and their ratio. "forward drive" includes the noise.
It also measures the rates themselves: sgemm on one thread, and the CPU's
W_rec x primitive (SciPy's csr_matvecs) at the step's shape.

    python benchmarks/floor.py [--sizes 256 1024 4096] [--sparsities 0.04 1.0] [--reps 5]
        [--mask locality|ring|random]  (the mask below full density; default locality)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

CLOCK = time.thread_time  # one thread does all the work (REFRNN_THREADS=1)

os.environ["REFRNN_THREADS"] = "1"  # the thread's CPU time is then all of it
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402

from refrnn.core import losses, optim  # noqa: E402
from refrnn.backends.backend import Backend  # noqa: E402
from refrnn.core.masks import torus_shape  # noqa: E402
from refrnn.core.model import RNN, ModelConfig  # noqa: E402
from refrnn.backends.fast_cpu import CpuPrimitives  # noqa: E402

T, B, N_OBS, N_TASKS, N_OUT = 350, 64, 33, 126, 17


class Timed:
    """Wraps a primitive set (and its recurrent operator): seconds per part."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, {}

    def _add(self, name, t0):
        self.seconds[name] = self.seconds.get(name, 0.0) + CLOCK() - t0

    def parts(self, fn, n, work, blas=True):
        t0 = CLOCK()
        self.inner.parts(fn, n, work, blas)
        name = fn.__qualname__.replace(".<locals>.", " ").replace("_through_time steps",
                                                                  "backward steps")
        name = name.replace("drive_noise", "drive")  # the drive's two phases: one part here
        self._add(name, t0)

    def recurrent(self, mask, dtype, sheet=None):
        op, timed = self.inner.recurrent(mask, dtype, sheet), self

        class Op:
            dense = op.dense
            layout = op.layout
            load = op.load

            def Wx(self, x, out):  # inside "forward steps": subtracted there below
                t0 = CLOCK(); op.Wx(x, out); timed._add("forward W_rec h", t0)

            def WTx(self, x, out):  # inside "backward steps"
                t0 = CLOCK(); op.WTx(x, out); timed._add("backward W_rec^T du", t0)

            def add_WTx(self, x, out):
                t0 = CLOCK(); op.add_WTx(x, out); timed._add("backward W_rec^T du", t0)

            def sampled(self, A, Bm):
                t0 = CLOCK(); r = op.sampled(A, Bm); timed._add("backward sampled", t0)
                return r
        return Op()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def sgemm_peak(reps=5) -> float:
    """GFLOP/s of a 1024^3 float32 GEMM (median of ``reps``)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((1024, 1024), dtype=np.float32) for _ in range(2))
    c = a @ b
    ts = []
    for _ in range(reps):
        t0 = CLOCK(); np.matmul(a, b, out=c); ts.append(CLOCK() - t0)
    return 2 * 1024 ** 3 / statistics.median(ts) / 1e9


def recurrent_rate(mask, sheet, reps=50) -> float:
    """GFLOP/s of the CPU's out = W_rec x (sheet blocks, csr_matvecs, or a GEMM
    when dense) on ``mask`` with (N, B) float32 operands, counting the mask's entries."""
    op = CpuPrimitives().recurrent(mask, np.float32, sheet)
    op.load(np.ones(mask.nnz, np.float32))
    x, out = np.ones((mask.shape[0], B), np.float32), np.zeros((mask.shape[0], B), np.float32)
    t0 = CLOCK()
    for _ in range(reps):
        op.Wx(x, out)
    return 2 * mask.nnz * B * reps / (CLOCK() - t0) / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.04, 1.0])
    ap.add_argument("--mask", default="locality", choices=["locality", "ring", "random"],
                    help="the mask of the sparsities below 1 (default locality)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    import threadpoolctl
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        peak = sgemm_peak()
    info = common.machine_info()
    print(f"machine: {info['cpu']}; numpy {info['numpy']}; "
          + ", ".join(f"{b['internal_api']} {b['version']} kernel={b['architecture']}" for b in info["blas"]))
    print(f"one thread. sgemm peak (1024^3): {peak:.1f} GFLOP/s; load average {os.getloadavg()[0]:.2f}")
    x, labels, weights = common.make_batch(T, B, N_OBS, N_TASKS, N_OUT, seed=1)
    used = int((x.reshape(T * B, -1) != 0).any(axis=0).sum())
    K = T * B
    for n in args.sizes:
        for s in args.sparsities:
            cfg = ModelConfig(n_in=N_OBS + N_TASKS, n_out=N_OUT, hidden=n,
                              mask="full" if s >= 1 else args.mask, sparsity=s)
            prims = Timed(CpuPrimitives())
            model = RNN(cfg, backend=Backend("cpu", np, prims), seed=0)
            nnz = n * n if model.W.dense else model.mask.nnz
            opt, rng = optim.Adam(model.params, lr=1e-3), np.random.default_rng(2)
            totals = {}
            for rep in range(args.reps + 1):
                prims.seconds = {}
                t0 = CLOCK()
                y, cache = model.forward(x, rng=rng)
                t1 = CLOCK()
                dy = losses.cross_entropy(y, labels, weights)[1]
                t2 = CLOCK()
                grads = model.backward(cache, dy)
                t3 = CLOCK()
                opt.step(model.params, grads)
                t4 = CLOCK()
                del y, cache  # the record's arrays go back to the model, as in training
                if rep:  # the first step warms up
                    sec = dict(prims.seconds)  # the loops' phases hold the products: take them out
                    for side, prod in (("forward", "forward W_rec h"), ("backward", "backward W_rec^T du")):
                        loop = sec.pop(f"{side} steps", 0.0) - sec.get(prod, 0.0)
                        sec[f"{side} steps (activations, loop)"] = loop
                    prims.seconds = sec
                    parts = {**prims.seconds, "forward (rest: loop, copies)": 0.0,
                             "backward (rest: loop, copies)": 0.0,
                             "loss": t2 - t1, "Adam": t4 - t3, "step": t4 - t0}
                    fwd = sum(v for k, v in prims.seconds.items() if k.startswith("forward"))
                    bwd = sum(v for k, v in prims.seconds.items() if k.startswith("backward"))
                    parts["forward (rest: loop, copies)"] = (t1 - t0) - fwd
                    parts["backward (rest: loop, copies)"] = (t3 - t2) - bwd
                    for k, v in parts.items():
                        totals.setdefault(k, []).append(v)
            flops = {"forward drive": 2 * n * used * K, "forward W_rec h": 2 * nnz * K,
                     "forward readout": 2 * n * N_OUT * K, "backward readout": 4 * n * N_OUT * K,
                     "backward W_rec^T du": 2 * nnz * K, "backward inputs": 2 * n * used * K,
                     "backward sampled": 2 * nnz * K}
            flops["step"] = sum(flops.values())
            print(f"\nN={n} {cfg.mask} sparsity={s:g} nnz={nnz} ({model.W.layout}); "
                  f"W_rec x {recurrent_rate(model.mask, torus_shape(cfg.mask, n)):.1f} GFLOP/s; "
                  f"{used} used input columns")
            print(f"{'part':38s} {'GFLOP':>7} {'floor ms':>9} {'measured ms':>12} {'x floor':>8}")
            for k in sorted(totals, key=lambda k: (k == "step", k)):
                ms = 1e3 * statistics.median(totals[k])
                f = flops.get(k)
                if f:
                    floor = 1e3 * f / (peak * 1e9)
                    print(f"{k:38s} {f / 1e9:7.2f} {floor:9.1f} {ms:12.1f} {ms / floor:8.1f}")
                else:
                    print(f"{k:38s} {'':7} {'':9} {ms:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
