"""Whether the one-hot task inputs should leave the input GEMMs.

Of the step's 87 used input columns (benchmarks/step.py: 33 observation
units, 54 task units in use), the task units are one-hot: each column k of
X^T has one of them on. They could be taken out of the drive's GEMM
W_in X^T (as a column gather W_in[:, task_k] added into U) and out of the
input gradient's dU X (as a scatter-add of dU's columns by task). This times,
on one thread (thread CPU time, median of --reps, float32, K = T * B): the
GEMMs with all 87 columns and with the 33 observation columns only, and the
gather alone (before any add into U).

    python benchmarks/inputs.py [--sizes 256 1024] [--reps 5]
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402

from refrnn.backends.threads import single_threaded_blas  # noqa: E402

T, B, N_OBS, USED_TASKS = 350, 64, 33, 54


def median_ms(fn, reps: int) -> float:
    return common.thread_median(fn, reps) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    info = common.machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}; "
          f"one thread, median of {args.reps}; load average {os.getloadavg()[0]:.2f}")
    K, cols = T * B, N_OBS + USED_TASKS
    rng = np.random.default_rng(0)
    X = rng.random((K, cols), dtype=np.float32)
    task = rng.integers(0, USED_TASKS, K)
    print(f"{'N':>6} {'drive 87 cols ms':>17} {'drive 33 cols ms':>17} {'gather ms':>10} "
          f"{'dW_in 87 cols ms':>17} {'dW_in 33 cols ms':>17}")
    with single_threaded_blas():
        for n in args.sizes:
            W = rng.random((n, cols), dtype=np.float32)
            U = np.empty((n, K), dtype=np.float32)
            dU = rng.random((n, K), dtype=np.float32)
            r = args.reps
            print(f"{n:>6} {median_ms(lambda: np.matmul(W, X.T, out=U), r):>17.1f} "
                  f"{median_ms(lambda: np.matmul(W[:, :N_OBS], X[:, :N_OBS].T, out=U), r):>17.1f} "
                  f"{median_ms(lambda: np.take(W[:, N_OBS:], task, axis=1), r):>10.1f} "
                  f"{median_ms(lambda: np.matmul(dU, X), r):>17.1f} "
                  f"{median_ms(lambda: np.matmul(dU, X[:, :N_OBS]), r):>17.1f}")


if __name__ == "__main__":
    main()
