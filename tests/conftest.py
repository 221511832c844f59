"""Shared pytest fixtures: backends to parametrise over, seeded generators."""
import numpy as np
import pytest

from refrnn.backend import available_devices, get_backend


@pytest.fixture(params=["cpu", "cuda"])
def backend(request):
    """Each backend in turn; the CUDA case skips cleanly without a GPU."""
    if request.param not in available_devices():
        pytest.skip("no CUDA GPU with CuPy here")
    return get_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
