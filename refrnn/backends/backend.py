"""The one place that chooses the array library and its primitives.

refrnn runs the same code on the CPU (NumPy + scipy.sparse) and on CUDA
(CuPy + cupyx.scipy.sparse).  Every other module receives a :class:`Backend`
(or its ``xp`` module) and never imports numpy-versus-cupy on its own; CuPy is
imported lazily, only when a CUDA backend is asked for.

The engine (refrnn.core.engine) runs the same two loops on every backend; what
differs is the backend's set of primitives (``Backend.prims``):
refrnn.backends.fast_cpu on the CPU, the plain refrnn.backends.plain on CUDA,
and the plain set on NumPy as the reference (``reference_backend()``).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse

from .fast_cpu import CpuPrimitives
from .plain import ArrayPrimitives
from .threads import set_threads

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Backend:
    """An array module and the engine's primitives on it.

    Attributes:
        name: "cpu" or "cuda".
        xp: ``numpy`` or ``cupy``.
        prims: the engine's primitives (parts, compute, draw_noise,
            recurrent): refrnn.backends.fast_cpu or refrnn.backends.plain.
    """

    name: str
    xp: ModuleType
    prims: Any

    @property
    def is_gpu(self) -> bool:
        return self.name == "cuda"

    def asarray(self, a: Any, dtype=None):
        """Move ``a`` (NumPy or backend array) onto this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Return ``a`` as a NumPy array on the host (no copy on the CPU)."""
        if self.is_gpu and isinstance(a, self.xp.ndarray):
            return a.get()
        return np.asarray(a)

    def rng(self, seed):
        """A seeded source of random arrays on this backend.

        CPU: ``numpy.random.Generator`` (PCG64); ``seed`` may also be such a
        Generator (returned as is). CUDA: a ``cupy.random.RandomState`` on
        cuRAND's Philox4x32-10; ``seed`` must be an integer in [0, 2**64) or
        None. Either answers ``standard_normal(size, dtype=...)`` on the backend.

        Why not ``cupy.random.default_rng``: its XORWOW state is set up for
        hundreds of thousands of GPU threads on every construction, and the
        training loop makes one generator per update (a fresh seed per step
        keeps resumed runs identical). Philox is counter-based: seeding it
        costs no set-up kernel.
        """
        if isinstance(seed, np.random.Generator):
            if self.is_gpu:
                raise ValueError("a CUDA generator needs an integer seed, "
                                 "not a numpy Generator")
            return seed
        if self.is_gpu:
            philox = self.xp.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10
            return self.xp.random.RandomState(seed, method=philox)
        return np.random.default_rng(seed)

    def rng_from(self, host_rng: np.random.Generator):
        """A generator on this backend that follows the host generator ``host_rng``:
        ``host_rng`` itself on the CPU (its stream unchanged); on CUDA a Philox
        state seeded by one draw from it."""
        if self.is_gpu:
            return self.rng(int(host_rng.integers(2 ** 62)))
        return host_rng

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU); for timing."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


def cuda_available() -> bool:
    """True when CuPy imports, sees at least one CUDA device, and finds the
    CUDA libraries refrnn calls (cuBLAS, cuSPARSE, cuRAND).

    CuPy loads those libraries lazily, on first use; without the check,
    "auto" would pick a GPU whose first noisy forward pass then fails.
    """
    try:
        import cupy  # noqa: F401  (lazy: only here and in get_backend)

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        for lib in ("cublas", "cusparse", "curand"):
            getattr(cupy.cuda, lib)  # raises ImportError when missing
        return True
    except Exception:  # ImportError, CUDARuntimeError, missing driver, ...
        return False


def get_backend(device: str = "cpu", threads: int = None) -> Backend:
    """Return the backend for ``device`` ("cpu", "cuda" or "auto").

    "auto" picks CUDA when CuPy and a GPU are present, else the CPU.
    ``threads``: the CPU's worker count from now on (refrnn.backends.threads):
    n > 0 sets it, 0 goes back to the default (REFRNN_THREADS, else the cores
    available), None leaves it as it is.
    Raises ValueError for an unknown device name or a bad thread count and
    RuntimeError when "cuda" is asked for where CuPy or a GPU is missing.
    """
    if threads is not None:  # 0: a run that asks for the default gets it, not an earlier run's
        set_threads(threads or None)
    if isinstance(device, Backend):
        return device
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    if device == "cpu":
        return Backend("cpu", np, CpuPrimitives())
    if not cuda_available():
        raise RuntimeError(
            "device 'cuda' was requested but CuPy with a CUDA GPU is not "
            "available (install the extra: pip install 'refrnn[gpu]')"
        )
    import cupy
    import cupyx.scipy.sparse

    return Backend("cuda", cupy, ArrayPrimitives(cupy, cupyx.scipy.sparse, blocked=True))


def reference_backend(blocked: bool = False) -> Backend:
    """The CPU with the plain primitives (refrnn.backends.plain on NumPy).

    The reference every faster primitive is tested against; ``blocked=True``
    gives exactly the set CUDA runs (the blocked sampled product), on NumPy.
    """
    return Backend("cpu", np, ArrayPrimitives(np, scipy.sparse, blocked=blocked))


def available_devices() -> list[str]:
    """The devices usable here: always "cpu", plus "cuda" when present."""
    return ["cpu", "cuda"] if cuda_available() else ["cpu"]
