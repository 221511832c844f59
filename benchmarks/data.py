"""Data pipeline benchmark: cache build, size, codecs, and batch serve time.

    PYTHONPATH=. python benchmarks/data.py [--trials 1000] [--codecs] [--batches 200]

Prints, for the `modcog` set: build time and size on disk of a cache with
``--trials`` trials per task; with ``--codecs``, size / write / full-read time
of the same trials under each h5py built-in codec; the median time to serve
one stream batch (B = 64, seq_len = 350) from the warm cache (a new x per
batch, and rendered into one reused buffer as training does), the same for
``refrnn.Dataset``; and neurogym's ``Dataset`` time for the same setting when
neurogym is importable (yang19 only: compare with ``--task-set yang19``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py)

from refrnn.data.cache import SPLITS, build_cache, cache_settings, open_cache, task_rng
from refrnn.data.cache_file import write_trials
from refrnn.files.atomic import atomic_write_h5
from refrnn.data.stream import StreamSampler
from refrnn.data.dataset import Dataset
from refrnn.tasks import get_task, input_noise_std

CODECS = {
    "none": {},
    "lzf": {"compression": "lzf"},
    "lzf+shuffle": {"compression": "lzf", "shuffle": True},
    "gzip1": {"compression": "gzip", "compression_opts": 1},
    "gzip1+shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    "gzip4": {"compression": "gzip", "compression_opts": 4},
    "gzip9": {"compression": "gzip", "compression_opts": 9},
}


def mib(path) -> float:
    return os.path.getsize(path) / 2**20


def bench_codecs(settings, folder: Path):
    counts = {"train": settings["trials_per_task"], "test": settings["test_trials_per_task"]}
    trials = {split: {t: get_task(t).generate(counts[split], task_rng(settings["seed"], split, t))
                      for t in settings["task_names"]} for split in SPLITS}
    raw = sum(tb.obs.nbytes + tb.labels.size * 2 + tb.offsets.nbytes + tb.bounds.nbytes
              + sum(np.asarray(v).nbytes for v in tb.params.values())
              for by in trials.values() for tb in by.values())
    print(f"raw bytes as stored (obs f32, labels/noise u8, offsets, bounds, params): "
          f"{raw / 2**20:.1f} MiB")
    print("times: wall (process CPU) seconds; read = open_cache + load both splits")
    print(f"{'codec':>15} {'MiB':>8} {'write s':>14} {'read s':>14}")
    for name, codec in CODECS.items():
        path = folder / f"codec-{name}.h5"
        t0, c0 = time.perf_counter(), time.process_time()
        atomic_write_h5(path, lambda f: write_trials(f, settings, trials, codec))
        write = (time.perf_counter() - t0, time.process_time() - c0)
        reads = []
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            c = open_cache(path)
            c.split("train")
            c.split("test")
            reads.append((time.perf_counter() - t0, time.process_time() - c0))
        read = min(reads)
        print(f"{name:>15} {mib(path):8.1f} {write[0]:6.2f} ({write[1]:5.2f}) "
              f"{read[0]:6.2f} ({read[1]:5.2f})")
        path.unlink()


def bench_serve(cache, n_batches, batch=64, seq_len=350, device="cpu"):
    t0 = time.perf_counter()
    train = cache.split("train")
    t1 = time.perf_counter()
    table = next(iter(train.values())).table
    print(f"load train split: {t1 - t0:.2f} s; in memory: {table.nbytes / 2**20:.1f} MiB "
          f"({table.steps.size} steps as {table.steps.dtype}, {table.obs.shape[0]} distinct)")
    for reuse in (False, True):
        t1 = time.perf_counter()
        s = StreamSampler(train, cache.task_names, batch, seq_len, seed=0, backend=device,
                          noise_std=input_noise_std(cache.settings["dt"]), reuse_x=reuse)
        t2 = time.perf_counter()
        for _ in range(10):
            s.next()
        wall, cpu = [], []
        for _ in range(n_batches):
            a, c = time.perf_counter(), time.process_time()
            b = s.next()
            s.backend.synchronize()
            wall.append(time.perf_counter() - a)
            cpu.append(time.process_time() - c)
        wall, cpu = np.array(wall) * 1e3, np.array(cpu) * 1e3
        print(f"sampler setup: {t2 - t1:.2f} s; stream batch x {tuple(b.x.shape)} on {device}"
              f"{', reuse_x (training)' if reuse else ''}, {n_batches} batches: "
              f"wall median {np.median(wall):.2f} ms (p10 {np.percentile(wall, 10):.2f}, "
              f"p90 {np.percentile(wall, 90):.2f}); process CPU median {np.median(cpu):.2f} ms")
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall "
          "times are inflated when the machine is shared)")


def bench_dataset(path, task_set, n_batches, batch=64, seq_len=350):
    """refrnn.Dataset (neurogym's call shape) served from the benchmark's cache."""
    settings = open_cache(path).settings
    t0 = time.perf_counter()
    ds = Dataset(task_set, batch_size=batch, seq_len=seq_len, cache_path=str(path),
                 trials_per_task=settings["trials_per_task"],
                 eval_trials=settings["test_trials_per_task"])
    t1 = time.perf_counter()
    for _ in range(10):
        ds()
    wall, cpu = [], []
    for _ in range(n_batches):
        a, c = time.perf_counter(), time.process_time()
        x, y = ds()
        wall.append(time.perf_counter() - a)
        cpu.append(time.process_time() - c)
    print(f"refrnn.Dataset ({task_set}, batch {batch}, seq_len {seq_len}) -> x {x.shape} "
          f"{x.dtype}, y {y.shape} {y.dtype}: setup {t1 - t0:.2f} s, {n_batches} batches: "
          f"wall median {np.median(wall) * 1e3:.2f} ms, process CPU median "
          f"{np.median(cpu) * 1e3:.2f} ms per batch")


def bench_neurogym(batch=64, seq_len=350, n=10):
    """neurogym's Dataset over its yang19 collection (Mod-Cog needs the Mod-Cog
    repository's task code on top, which is not a package); compare with
    ``--task-set yang19``."""
    try:
        import neurogym as ngym
        from neurogym.utils.scheduler import RandomSchedule
        from neurogym.wrappers import ScheduleEnvs
        from neurogym.envs.collections import get_collection
    except ImportError as e:
        print(f"neurogym comparison skipped ({e}); neurogym's Dataset took about 0.55 s per "
              "batch for Dataset(batch 64, seq_len 350) on Mod-Cog, neurogym 2.3.1")
        return
    warnings.simplefilter("ignore")  # gymnasium's deprecation chatter
    try:
        t0 = time.perf_counter()
        envs = [ngym.make(t, dt=100) for t in get_collection("yang19")]
        env = ScheduleEnvs(envs, schedule=RandomSchedule(len(envs)), env_input=True)
        ds = ngym.Dataset(env, batch_size=batch, seq_len=seq_len)
        t1 = time.perf_counter()
        times, cpu = common.wall_and_cpu(ds, n)
        print(f"neurogym {ngym.__version__} Dataset (yang19, batch {batch}, seq_len {seq_len}):"
              f" setup {t1 - t0:.1f} s, {n} batches: wall median {np.median(times) * 1e3:.0f} ms,"
              f" process CPU median {np.median(cpu) * 1e3:.0f} ms per batch")
    except Exception as e:  # any API difference between neurogym versions
        print(f"neurogym comparison failed ({type(e).__name__}: {e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task-set", default="modcog")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--codecs", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--folder", default=None, help="where to write (default: a temp dir)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.folder) as tmp:
        folder = Path(tmp)
        settings = cache_settings(a.task_set, a.trials, 0)
        t0 = time.perf_counter()
        path = build_cache(a.task_set, a.trials, 0, path=folder / "bench.h5")
        t1 = time.perf_counter()
        print(f"{a.task_set}: {len(settings['task_names'])} tasks, {a.trials} train + "
              f"{settings['test_trials_per_task']} test trials per task")
        print(f"build_cache: {t1 - t0:.1f} s, {mib(path):.1f} MiB on disk")
        if a.codecs:
            bench_codecs(settings, folder)
        bench_serve(open_cache(path), a.batches, device=a.device)
        bench_dataset(path, a.task_set, a.batches)
        bench_neurogym()


if __name__ == "__main__":
    main()
