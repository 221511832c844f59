"""Helpers of benchmarks/gpu_step.py: device facts, timing, the PyTorch step.

Kept apart so gpu_step.py stays about the benchmark itself. Nothing here
imports CuPy or torch at module level; callers pass the modules in. The twin
itself is refrnn.verify.torch_twin's, the one the parity tests check.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

# Theoretical HBM bandwidth (bytes/s) of cards, for when no attribute answers.
KNOWN_BW = (("H100 PCIe", 2.0e12), ("H100 NVL", 3.9e12), ("H100", 3.35e12),
            ("H200", 4.8e12), ("A100-SXM4-80GB", 2.039e12), ("A100", 1.555e12))


def theoretical_bandwidth(cp, name: str) -> tuple[float, str]:
    """(bytes/s, where the number came from) for device 0."""
    rt = cp.cuda.runtime
    try:  # CUDA 13 dropped memoryClockRate from the properties; attributes remain
        clock_khz = rt.deviceGetAttribute(getattr(rt, "cudaDevAttrMemoryClockRate", 36), 0)
        bus_bits = rt.deviceGetAttribute(getattr(rt, "cudaDevAttrGlobalMemoryBusWidth", 37), 0)
        if clock_khz > 0 and bus_bits > 0:
            return 2.0 * clock_khz * 1e3 * bus_bits / 8, (
                f"CUDA attributes: memory clock {clock_khz / 1e3:.0f} MHz, bus {bus_bits} bit")
    except Exception:  # noqa: BLE001  (an attribute this runtime lacks)
        pass
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        mhz = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM)
        bits = pynvml.nvmlDeviceGetMemoryBusWidth(h)
        if mhz > 0 and bits > 0:
            return 2.0 * mhz * 1e6 * bits / 8, f"NVML: max memory clock {mhz} MHz, bus {bits} bit"
    except Exception:  # noqa: BLE001
        pass
    for key, bw in KNOWN_BW:
        if key.lower() in name.lower():
            return bw, f"spec sheet value for {key} (no attribute answered)"
    return float("nan"), "unknown (no attribute answered, card not in table)"


def copy_bandwidth(xp, sync, nbytes: int = 1 << 30, reps: int = 10) -> float:
    """Measured device-to-device copy, bytes read + written per second."""
    a = xp.ones(nbytes // 4, dtype=np.float32)
    b = xp.empty_like(a)
    b[...] = a
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        b[...] = a
    sync()
    return 2.0 * a.nbytes * reps / (time.perf_counter() - t0)


def rng_create_ms(make, sync, reps: int = 20) -> float:
    """Median ms to make a seeded generator with ``make(seed)`` and draw from it once.

    training_loop.py makes a fresh one per update (Backend.rng), so its cost
    belongs next to the step time. The benchmark also times
    ``cupy.random.default_rng``, the choice Backend.rng avoids, to show why.
    """
    times = time_steps(lambda: make(123).standard_normal(16, dtype=np.float32),
                       sync, reps=reps, warmup=2, budget_s=5.0)
    return 1000.0 * statistics.median(times)


def time_steps(step, sync, reps: int, warmup: int, budget_s: float) -> list[float]:
    """Seconds per call of ``step``, each between two synchronizes.

    The repetitions are cut so the timed part stays near ``budget_s``.
    """
    t_warm = 0.0
    for _ in range(warmup):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        t_warm = time.perf_counter() - t0
    reps = max(1, min(reps, int(budget_s / max(t_warm, 1e-9))))
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def torch_setup(torch, device: str, be, model, x, labels, weights):
    """The PyTorch twin of a refrnn ``model`` (refrnn.verify.torch_twin.TorchRNN:
    the same equation and weights, dense masked W_rec * M, autograd) with
    torch.optim.Adam, float32 on ``device``.

    x (T, B, n_in) float32, labels (T, B) int64, weights (T, B) float32 (NumPy).
    Returns (step, loss0): step() does one training step (recurrent noise from
    a seeded torch.Generator); loss0 is the noise-free loss before any step.
    """
    from refrnn.verify.torch_twin import TorchRNN, cross_entropy

    dev = torch.device(device)
    twin = TorchRNN.from_refrnn(model, dtype=torch.float32).to(dev)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    xt = torch.as_tensor(x, device=dev)
    lt = torch.as_tensor(labels, device=dev)
    wt = torch.as_tensor(weights, device=dev)
    gen = torch.Generator(device=dev).manual_seed(2)

    def step():
        opt.zero_grad(set_to_none=True)
        cross_entropy(twin(xt, generator=gen)[0], lt, wt).backward()
        opt.step()

    with torch.no_grad():
        loss0 = float(cross_entropy(twin(xt)[0], lt, wt))
    return step, loss0
