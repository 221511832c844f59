"""The measurements behind refrnn.backends.pattern_products' choice of layout.

For locality masks at several N this times one per-step product W_rec x
(x (N, B), B = 64, float32, one thread, thread CPU time, median of --reps)
three ways: SciPy's csr_matvecs (what random masks use), the sheet blocks at
each strip width bc, and, apart, the blocks' two calls (the gather into the
padded layout, the batched GEMM). It prints the block density, ``plan``'s
choice and estimated cost, and the two rates the cost model's constants
stand for: csr_matvecs' flop rate on the synapses against a tall sgemm's
(SPARSE_SLOWDOWN), and sgemm flops per gathered float (GEMM_PER_COPY).

    python benchmarks/blocks.py [--sizes 256 1024 4096] [--reps 50]
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402

from refrnn.backends import pattern_products as sb  # noqa: E402
from refrnn.backends.fast_cpu import CpuRecurrent  # noqa: E402
from refrnn.backends.plain import pattern_coordinates  # noqa: E402
from refrnn.backends.threads import single_threaded_blas  # noqa: E402
from refrnn.core.masks import make_mask, torus_shape  # noqa: E402

B = 64


def median_us(fn, reps: int) -> float:
    return common.thread_median(fn, reps) * 1e6


def sgemm_gflops(reps: int) -> float:
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    out = np.empty_like(a)
    return 2 * 1024 ** 3 / median_us(lambda: np.matmul(a, a, out=out), max(3, reps // 10)) / 1e3


def one_size(n: int, sparsity: float, reps: int, rate: float) -> None:
    mask = make_mask("locality", n, sparsity)
    rows, cols = pattern_coordinates(mask)
    sheet = torus_shape("locality", n)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(mask.nnz).astype(np.float32)
    x = rng.standard_normal((n, B)).astype(np.float32)
    out = np.empty_like(x)
    csr = CpuRecurrent(mask, np.float32)  # no sheet given: the CSR layout
    csr.load(w)
    t_csr = median_us(lambda: csr.Wx(x, out), reps)
    flops = 2.0 * mask.nnz * B
    chosen = sb.plan(rows, cols, n, sheet)
    dr, dc = sb.torus_offsets(rows, cols, *sheet)
    ext = (max(0, -int(dr.min())), max(0, int(dr.max())),
           max(0, -int(dc.min())), max(0, int(dc.max())))
    print(f"\nN={n} s={sparsity:g} sheet={sheet} nnz={mask.nnz:,}: csr_matvecs {t_csr:,.0f} us "
          f"({flops / t_csr / 1e3:.1f} GFLOP/s on the synapses, 1/{rate / (flops / t_csr / 1e3):.1f}"
          f" of sgemm); plan: {'csr' if chosen is None else f'bc={chosen[0]}'}")
    print(f"{'bc':>5} {'density':>8} {'product us':>11} {'gather us':>10} {'GEMM us':>8} "
          f"{'GEMM GFLOP/s':>13} {'x csr':>6} {'model cost / 2 nnz':>19}")
    for bc in (d for d in range(sb.MIN_BLOCK, sheet[1] + 1) if sheet[1] % d == 0):
        if bc > 32:
            break
        op = sb.SheetBlocks(rows, cols, n, sheet, np.float32, bc, ext)
        op.load(w)
        t_all = median_us(lambda: op.product(x, out), reps)
        hp = np.empty((len(op.gather), B), np.float32)  # the product's two calls, timed apart
        windows = op._windows(hp, op.r)
        t_take = median_us(lambda: x.take(op.gather, axis=0, out=hp, mode="clip"), reps)
        t_mm = median_us(lambda: np.matmul(op.blocks, windows,
                                           out=out.reshape(op.r, op.tc, op.bc, B)), reps)
        print(f"{bc:>5} {op.density:>8.2f} {t_all:>11,.0f} {t_take:>10,.0f} {t_mm:>8,.0f} "
              f"{op.blocks.size * B * 2 / t_mm / 1e3:>13.1f} {t_all / t_csr:>6.2f} "
              f"{sb.block_cost(n, sheet, ext, bc) / (2.0 * mask.nnz):>19.1f}")
        if bc == chosen_bc(chosen):
            per_float = t_take * 1e-6 * rate * 1e9 / (op.gather.size * B)
            print(f"{'':>5} gather: {per_float:.0f} sgemm flops per gathered float "
                  f"(GEMM_PER_COPY = {sb.GEMM_PER_COPY:g})")


def chosen_bc(chosen):
    return None if chosen is None else chosen[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--sparsity", type=float, default=0.04)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args(argv)
    info = common.machine_info()
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']}"
                     for b in info["blas"]) or "unknown"
    with single_threaded_blas():
        rate = sgemm_gflops(args.reps)
        print(f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}; {blas}")
        print(f"one thread, thread CPU time, median of {args.reps}; sgemm (1024^3) "
              f"{rate:.1f} GFLOP/s; load average {os.getloadavg()[0]:.2f}; "
              f"SPARSE_SLOWDOWN = {sb.SPARSE_SLOWDOWN:g}")
        for n in args.sizes:
            one_size(n, args.sparsity, args.reps if n <= 1024 else max(5, args.reps // 10), rate)


if __name__ == "__main__":
    main()
