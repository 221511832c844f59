"""refrnn.backends.backend: choosing numpy-versus-cupy, moving arrays, seeded generators.

The CPU cases always run; the CUDA cases come from the ``backend`` fixture
(tests/conftest.py) and skip cleanly where CuPy or a GPU is missing.
"""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import refrnn.backends.backend as backend_mod
from refrnn.backends.backend import Backend, available_devices, cuda_available, get_backend

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_backend_is_numpy_and_scipy():
    b = get_backend("cpu")
    assert isinstance(b, Backend)
    assert b.name == "cpu" and not b.is_gpu
    assert b.xp is np
    from refrnn.backends.fast_cpu import CpuPrimitives
    assert isinstance(b.prims, CpuPrimitives)


def test_default_device_is_cpu():
    assert get_backend().name == "cpu"


def test_auto_picks_cuda_with_the_plain_blocked_primitives(monkeypatch):
    """With CUDA present (a stand-in cupy / cupyx), "auto" builds the CUDA
    backend, and it runs the plain primitives with the blocked sampled product."""
    from refrnn.backends.plain import ArrayPrimitives

    cupy, sparse = SimpleNamespace(name="cupy"), SimpleNamespace(name="cupyx.scipy.sparse")
    cupyx = SimpleNamespace(scipy=SimpleNamespace(sparse=sparse))
    for name, mod in (("cupy", cupy), ("cupyx", cupyx), ("cupyx.scipy", cupyx.scipy),
                      ("cupyx.scipy.sparse", sparse)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(backend_mod, "cuda_available", lambda: True)
    b = get_backend("auto")
    assert b.name == "cuda" and b.xp is cupy and b.prims.sparse is sparse
    assert isinstance(b.prims, ArrayPrimitives) and b.prims.blocked and b.prims.xp is cupy


def test_auto_falls_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(backend_mod, "cuda_available", lambda: False)
    assert get_backend("auto").name == "cpu"
    assert backend_mod.available_devices() == ["cpu"]


@pytest.mark.parametrize("bad", ["bogus", "gpu", "CPU", "", "cuda:0"])
def test_unknown_device_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        get_backend(bad)


def test_cuda_without_gpu_is_a_clear_runtime_error(monkeypatch):
    # Simulated absence, so this also runs (and means the same) on a GPU machine.
    monkeypatch.setattr(backend_mod, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"'cuda'.*(CuPy|GPU)"):
        get_backend("cuda")


@pytest.mark.skipif(cuda_available(), reason="a CUDA GPU is present here")
def test_cuda_really_absent_here_raises():
    with pytest.raises(RuntimeError, match="cuda"):
        get_backend("cuda")
    assert available_devices() == ["cpu"]


def test_backend_instance_passes_through():
    b = get_backend("cpu")
    assert get_backend(b) is b


def test_cpu_to_numpy_does_not_copy():
    b = get_backend("cpu")
    a = np.arange(6.0).reshape(2, 3)
    out = b.to_numpy(a)
    assert out is a or np.shares_memory(out, a)


def test_cpu_rng_passes_a_generator_through_and_seeds_the_same():
    b = get_backend("cpu")
    g = np.random.default_rng(3)
    assert b.rng(g) is g
    x1 = b.rng(7).standard_normal(5)
    x2 = b.rng(7).standard_normal(5)
    x3 = b.rng(8).standard_normal(5)
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, x3)
    # Same stream as numpy's own default_rng: CPU runs reproduce outside refrnn.
    np.testing.assert_array_equal(x1, np.random.default_rng(7).standard_normal(5))


# --- both backends (CUDA skips without a GPU) ------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_asarray_round_trip_keeps_values_and_dtype(backend, dtype):
    host = np.random.default_rng(0).standard_normal((4, 3)).astype(dtype)
    dev = backend.asarray(host)
    assert isinstance(dev, backend.xp.ndarray)
    assert dev.dtype == dtype
    back = backend.to_numpy(dev)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    cast = backend.asarray(host, dtype=np.float32)
    assert cast.dtype == np.float32


def test_backend_rng_draws_on_the_backend_and_is_seeded(backend):
    g1, g2, g3 = backend.rng(11), backend.rng(11), backend.rng(12)
    a = g1.standard_normal((3, 4), dtype=np.float32)
    assert isinstance(a, backend.xp.ndarray)
    assert a.dtype == np.float32 and a.shape == (3, 4)
    b = g2.standard_normal((3, 4), dtype=np.float32)
    c = g3.standard_normal((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))
    assert not np.array_equal(backend.to_numpy(a), backend.to_numpy(c))
    # Successive draws of one generator differ.
    d = g1.standard_normal((3, 4), dtype=np.float32)
    assert not np.array_equal(backend.to_numpy(a), backend.to_numpy(d))


@pytest.mark.parametrize("devices,missing,expected", [
    (1, None, True), (0, None, False), (1, "curand", False), (1, "cusparse", False)])
def test_cuda_available_needs_a_device_and_the_cuda_libraries(
        monkeypatch, devices, missing, expected):
    """cuda_available() with a stand-in cupy module: a device is not enough,
    the lazily loaded cuBLAS / cuSPARSE / cuRAND must load too."""
    class Cuda:
        runtime = SimpleNamespace(getDeviceCount=lambda: devices)

        def __getattr__(self, name):
            if name == missing:
                raise ImportError(f"lib{name} not found")
            return SimpleNamespace()

    monkeypatch.setitem(sys.modules, "cupy", SimpleNamespace(cuda=Cuda()))
    assert cuda_available() is expected


def test_cuda_rng_is_a_philox_random_state():
    """Backend.rng on CUDA asks cupy for Philox, not the costly XORWOW default.

    Checked against a stand-in module (the call, not the draws) so it runs
    without a GPU; the draws themselves are checked on the GPU above.
    """
    made = []

    class RandomState:
        def __init__(self, seed, method=None):
            made.append((seed, method))

    philox, xorwow = object(), object()  # stand-ins for cuRAND's method constants
    fake = SimpleNamespace(random=SimpleNamespace(RandomState=RandomState),
                           cuda=SimpleNamespace(curand=SimpleNamespace(
                               CURAND_RNG_PSEUDO_PHILOX4_32_10=philox,
                               CURAND_RNG_PSEUDO_XORWOW=xorwow)))
    b = Backend("cuda", fake, None)
    assert isinstance(b.rng(7), RandomState)
    assert made == [(7, philox)]
    with pytest.raises(ValueError, match="integer seed"):
        b.rng(np.random.default_rng(0))


def test_backend_rng_statistics(backend):
    x = backend.to_numpy(backend.rng(5).standard_normal(200_000))
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1.0) < 0.02


# --- the GPU benchmark refuses cleanly where CUDA is missing ---------------

@pytest.mark.skipif(cuda_available(), reason="a CUDA GPU is present here")
def test_gpu_benchmark_fails_clearly_without_cuda():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_step.py"), "--sizes", "64"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "CUDA" in proc.stderr and "Traceback" not in proc.stderr


def test_gpu_benchmark_smoke_run_on_the_cpu(tmp_path):
    """The benchmark's code path (both models, SpMM timing, table, JSON) on the
    CPU at a toy size, so the one GPU run is not spent finding script bugs."""
    import json

    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_step.py"), "--smoke", "--sizes", "64",
         "--seq-len", "8", "--batch", "4", "--reps", "1", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "torch/refrnn" in proc.stdout
    res = json.loads(out.read_text())
    (row,) = res["rows"]
    assert row["N"] == 64 and row["nnz"] == 64 * 3  # round(0.04 * 64) = 3 per row
    assert row["refrnn_median_ms"] > 0 and row["torch_median_ms"] > 0
    assert row["spmm_bytes"] == 192 * 8 + 65 * 4 + 64 * 4 * 4 * 2
    # The PyTorch twin computes the same loss from the same weights.
    assert row["loss_rel_diff"] < 1e-5
    assert res["info"]["smoke"] is True
