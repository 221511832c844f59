"""Time refrnn.Dataset against neurogym.Dataset on the same call (medians per batch).

    python benchmarks/dataset.py                               # B 16 x T 100 and B 64 x T 350
    python benchmarks/dataset.py --shapes 16x100 --batches 50 --compat neurogym-2.3

For each B x T: ``refrnn.Dataset("yang19", batch_size=B, seq_len=T)`` and, when
neurogym is importable, ``neurogym.Dataset(ScheduleEnvs(yang19 envs,
RandomSchedule(20), env_input=True), batch_size=B, seq_len=T)``; both warmed
up, then timed batch by batch (wall and process CPU), in alternating rounds so
that load from other jobs falls on both. A batch that only slices the
stream's cache is nearly free, one that refills it is not: refrnn refills
every cache_len / T batches, neurogym one batch earlier (every batch when
cache_len = 2T, as for B 16 x T 100), so the means are the fairer
comparison; medians are printed too. Prints the CPU model, numpy's BLAS
and the load average: on a shared machine wall times are inflated, CPU times
less so. The refrnn cache is built first in a temporary folder.
"""
import argparse
import os
import sys
import platform
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py)

import refrnn


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas():
    try:
        cfg = np.show_config(mode="dicts")
        return cfg["Build Dependencies"]["blas"]["name"]
    except Exception:  # older numpy
        return "unknown BLAS"


def neurogym_dataset(batch, seq_len):
    """neurogym's Dataset over its yang19 collection, or None without neurogym."""
    try:
        import neurogym as ngym
        from neurogym.envs.collections import get_collection
        from neurogym.utils.scheduler import RandomSchedule
        from neurogym.wrappers import ScheduleEnvs
    except ImportError:
        return None
    warnings.simplefilter("ignore")  # gymnasium's deprecation chatter
    envs = [ngym.make(t, dt=100) for t in get_collection("yang19")]
    env = ScheduleEnvs(envs, schedule=RandomSchedule(len(envs)), env_input=True)
    ds = ngym.Dataset(env, batch_size=batch, seq_len=seq_len)
    ds.name = f"neurogym {ngym.__version__}"
    return ds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["16x100", "64x350"], help="B x T")
    ap.add_argument("--batches", type=int, default=100, help="refrnn batches per shape")
    ap.add_argument("--neurogym-batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compat", default=None)
    a = ap.parse_args()
    print(f"{cpu_model()}; numpy {np.__version__} ({blas()}); {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in a.shapes:
            B, T = (int(v) for v in shape.split("x"))
            ours = refrnn.Dataset("yang19", batch_size=B, seq_len=T, seed=0, compat=a.compat,
                                  cache_path=str(Path(tmp) / "yang19.h5"))
            ours.name = f"refrnn {refrnn.__version__}"
            ref = neurogym_dataset(B, T)
            runs = [(ours, a.batches)] + ([(ref, a.neurogym_batches)] if ref else [])
            times = {ds.name: ([], []) for ds, _ in runs}
            for ds, n in runs:
                common.wall_and_cpu(ds, max(2, n // 10))  # warm up
            for _ in range(a.rounds):
                for ds, n in runs:
                    w, c = common.wall_and_cpu(ds, max(1, n // a.rounds))
                    times[ds.name][0].extend(w)
                    times[ds.name][1].extend(c)
            for name, (w, c) in times.items():
                print(f"B {B} x T {T}, {name}: {len(w)} batches, wall median "
                      f"{np.median(w) * 1e3:.2f} ms (mean {np.mean(w) * 1e3:.2f}), process CPU "
                      f"median {np.median(c) * 1e3:.2f} ms (mean {np.mean(c) * 1e3:.2f})")
            if ref is None:
                print("neurogym not importable: no comparison")
            else:
                (wo, co), (wr, cr) = times[ours.name], times[ref.name]
                print(f"B {B} x T {T}: neurogym / refrnn, CPU: {np.median(cr) / np.median(co):.0f}x "
                      f"by medians, {np.mean(cr) / np.mean(co):.0f}x by means")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
