"""Where each worker spends one training step: CPU time per phase and part.

Wraps the pool's split (refrnn.backends.threads.run_parts) with per-part
thread clocks and prints, per phase of the step (the all-time products,
the loops over time, the sampled W_rec gradient), each part's CPU time,
then the main thread's CPU time outside the phases and the critical path:
that serial time plus the slowest part of each phase, the least an idle
machine could take with this split. CPU times, so a loaded machine
inflates them less than it inflates wall time. Same step as step.py
(T = 350, B = 64, Mod-Cog-shaped inputs, float32).

    python benchmarks/threads.py [--n 1024] [--mask locality] [--threads 2] [--reps 3]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402

import refrnn.backends.threads as pool  # noqa: E402
from refrnn.core import losses, optim  # noqa: E402
from refrnn.core.model import RNN, ModelConfig  # noqa: E402

T, B, N_OBS, N_TASKS, N_OUT = 350, 64, 33, 126, 17


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--mask", default="locality")
    ap.add_argument("--sparsity", type=float, default=0.04)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    pool.set_threads(args.threads)
    phases = collections.defaultdict(list)  # name -> [per-part cpu seconds] per call
    run = pool.run_parts

    def timed_parts(fn, n, work, blas=True):
        cpus = {}

        def part(r0, r1):
            c0 = time.thread_time()
            fn(r0, r1)
            cpus[r0] = time.thread_time() - c0

        run(part, n, work, blas)
        phases[fn.__qualname__.replace(".<locals>.", " ")].append([cpus[k] for k in sorted(cpus)])

    pool.run_parts = timed_parts
    cfg = ModelConfig(n_in=N_OBS + N_TASKS, n_out=N_OUT, hidden=args.n, mask=args.mask,
                      sparsity=args.sparsity)
    model = RNN(cfg, seed=0)
    if model.W.sampler is not None:  # sheet blocks' sampled product calls run_parts itself
        model.W.sampler.parts = timed_parts
    x, labels, weights = common.make_batch(T, B, N_OBS, N_TASKS, N_OUT, seed=1)
    opt, rng = optim.Adam(model.params, lr=1e-3), np.random.default_rng(2)

    def step():
        y, rec = model.forward(x, rng=rng)
        grads = model.backward(rec, losses.cross_entropy(y, labels, weights)[1])
        opt.step(model.params, grads)

    step()
    phases.clear()
    c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    for _ in range(args.reps):
        step()
    cpu = (time.process_time() - c0) / args.reps
    main_cpu = (time.thread_time() - m0) / args.reps
    wall = (time.perf_counter() - t0) / args.reps
    info = common.machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}; "
          f"N={args.n} {args.mask} {args.sparsity:g}; {pool.threads()} workers; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'phase':34s} cpu ms per part")
    crit = main_in = 0.0
    for name, calls in phases.items():
        parts = max(map(len, calls))
        per = [sum(c[i] for c in calls if i < len(c)) / args.reps for i in range(parts)]
        crit += max(per)
        main_in += per[0]
        print(f"{name:34s} " + ", ".join(f"{1e3 * p:.1f}" for p in per))
    serial = main_cpu - main_in
    print(f"{'outside the phases (main thread)':34s} {1e3 * serial:.1f}")
    print(f"critical path {1e3 * (serial + crit):.1f} ms; process cpu {1e3 * cpu:.1f} ms; "
          f"wall {1e3 * wall:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
