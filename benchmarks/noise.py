"""How fast this machine draws float32 standard normals, by method.

The CPU forward pass draws N x K recurrent-noise normals every step
(256 x 22,400 = 5.7 M at the benchmark's N = 256); refrnn uses Box-Muller on
SFC64 uniforms (refrnn.backends.noise). This times the candidates on one
thread, in chunks of refrnn's CHUNK elements (cache-resident, as the
forward pass draws them), as thread CPU time per normal (median of --reps):

    box-muller sfc64      refrnn's noise_rows: SFC64 uniforms, then log, sqrt, cos, sin
    uniforms sfc64        the uniforms alone (the part Box-Muller cannot avoid)
    ziggurat sfc64 f32    Generator(SFC64).standard_normal(dtype=float32)
    ziggurat pcg64 f32    default_rng().standard_normal(dtype=float32)
    ziggurat pcg64 f64    default_rng().standard_normal() (float64), cast to float32
    inverse cdf sfc64     scipy.special.ndtri of SFC64 uniforms

    python benchmarks/noise.py [--elements 5734400] [--reps 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402
import scipy.special  # noqa: E402

from refrnn.backends.noise import CHUNK, box_muller  # noqa: E402


def methods(rng_seed: int):
    """name -> fill(out): writes len(out) float32 normals (or uniforms) into out."""
    sfc = np.random.Generator(np.random.SFC64(rng_seed))
    pcg = np.random.default_rng(rng_seed)
    u = np.empty(CHUNK, dtype=np.float32)
    z64 = np.empty(CHUNK, dtype=np.float64)

    def bm(out):
        m = out.size // 2
        uu = u[:2 * m].reshape(2, m)
        sfc.random(out=uu, dtype=np.float32)
        box_muller(uu, out[:2 * m].reshape(2, m))

    def inv(out):
        sfc.random(out=out, dtype=np.float32)
        scipy.special.ndtri(out, out=out)

    def zig64(out):
        pcg.standard_normal(out=z64[:out.size])
        out[...] = z64[:out.size]

    return {
        "box-muller sfc64": bm,
        "uniforms sfc64": lambda out: sfc.random(out=out, dtype=np.float32),
        "ziggurat sfc64 f32": lambda out: sfc.standard_normal(out=out, dtype=np.float32),
        "ziggurat pcg64 f32": lambda out: pcg.standard_normal(out=out, dtype=np.float32),
        "ziggurat pcg64 f64": zig64,
        "inverse cdf sfc64": inv,
    }


def time_method(fill, elements: int) -> float:
    out = np.empty(CHUNK, dtype=np.float32)
    t0 = time.thread_time()
    for a in range(0, elements, CHUNK):
        fill(out[:min(CHUNK, elements - a)])
    return time.thread_time() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elements", type=int, default=256 * 350 * 64)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    info = common.machine_info()
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']}"
                     for b in info["blas"]) or "unknown"
    print(f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}; {blas}")
    print(f"{args.elements:,} float32 normals per draw, chunks of {CHUNK:,}, one thread, "
          f"median of {args.reps}; load average {os.getloadavg()[0]:.2f}")
    fills = methods(0)
    base = None
    print(f"{'method':<22} {'ms per draw':>12} {'ns / normal':>12} {'x box-muller':>13}")
    for name, fill in fills.items():
        fill(np.empty(CHUNK, dtype=np.float32))  # warm up
        t = statistics.median(time_method(fill, args.elements) for _ in range(args.reps))
        base = t if base is None else base
        print(f"{name:<22} {t * 1e3:>12.1f} {t / args.elements * 1e9:>12.2f} {t / base:>13.2f}")


if __name__ == "__main__":
    main()
