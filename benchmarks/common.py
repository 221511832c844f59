"""Helpers shared by the benchmark scripts: machine facts, memory, timing, data.

Memory: each configuration runs in its own subprocess. After setup the
process's resident high-water mark is reset (Linux: write "5" to
/proc/self/clear_refs), so the reported peak covers the timed steps; where
that reset is refused the peak is ru_maxrss over the whole process life.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import refrnn  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, ROOT)

from refrnn.files.atomic import atomic_write_text  # noqa: E402


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (or platform's guess)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> list[dict]:
    """BLAS libraries loaded by NumPy (threadpoolctl), or [] without it."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    keep = ("internal_api", "version", "architecture", "num_threads")
    return [{k: d.get(k) for k in keep} for d in threadpoolctl.threadpool_info()]


def machine_info() -> dict:
    """CPU model, core count, Python / NumPy versions, BLAS kernel."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc), or NaN elsewhere."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark; True when the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def summarize(times_s: list[float]) -> dict:
    """Median, min and max of per-step times, in milliseconds."""
    ms = [1000.0 * t for t in times_s]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms),
            "max_ms": max(ms), "reps": len(ms)}


def wall_and_cpu(fn, reps: int, warmup: int = 0):
    """(wall seconds, process CPU seconds of all threads) of each of ``reps``
    calls of fn(), after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def thread_median(fn, reps: int) -> float:
    """Seconds of thread CPU time fn() takes, median of ``reps`` calls after
    one untimed call (buffers and caches made)."""
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        ts.append(time.thread_time() - t0)
    return statistics.median(ts)


def make_batch(T: int, B: int, n_obs: int, n_tasks: int, n_out: int, seed: int):
    """A Mod-Cog-shaped batch: observations plus a one-hot task code.

    Returns x (T, B, n_obs + n_tasks) float32, labels (T, B) int64 in
    [0, n_out), weights (T, B) float32 ones. Each batch row holds one task
    for its whole length (the one-hot block is what matters for speed).
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((T, B, n_obs + n_tasks), dtype=np.float32)
    x[:, :, :n_obs] = rng.uniform(0.0, 1.0, size=(T, B, n_obs))
    task = rng.integers(0, n_tasks, size=B)
    x[:, np.arange(B), n_obs + task] = 1.0
    labels = rng.integers(0, n_out, size=(T, B)).astype(np.int64)
    weights = np.ones((T, B), dtype=np.float32)
    return x, labels, weights


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary name in the same folder."""
    atomic_write_text(path, json.dumps(obj, indent=2))
