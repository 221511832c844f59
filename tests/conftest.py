"""Shared pytest fixtures: backends to parametrise over, seeded generators."""
import numpy as np
import pytest

from refrnn.backends.backend import available_devices, get_backend


@pytest.fixture(params=["cpu", "cuda"])
def backend(request):
    """Each backend in turn; the CUDA case skips cleanly without a GPU."""
    if request.param not in available_devices():
        pytest.skip("no CUDA GPU with CuPy here")
    return get_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory):
    """A small yang19 trial cache (8 train, 3 test trials per task), one per module."""
    from refrnn.data.cache import build_cache
    path = tmp_path_factory.mktemp("cache") / "yang19.h5"
    return str(build_cache("yang19", 8, 0, eval_trials=3, path=path))
