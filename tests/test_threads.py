"""The worker pool (refrnn.backends.threads): errors, and a plain install without threadpoolctl."""
import threading
import time
import warnings

import numpy as np
import pytest

import refrnn.backends.threads as ct
from refrnn.backends.backend import get_backend
from refrnn.core.losses import cross_entropy
from refrnn.core.model import RNN, ModelConfig


@pytest.fixture
def three_parts(monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", "3")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 1)


@pytest.mark.parametrize("failing", [(0,), (4,), (0, 4)])
def test_a_failing_part_waits_for_the_others_then_raises_the_first_error(failing, three_parts):
    """Parts (0, 4), (4, 7), (7, 10): those in ``failing`` raise at once, (7, 10)
    finishes late. The call must not return before the slow part is done
    (it writes the caller's arrays), and raises the first range's error."""
    done = threading.Event()

    def fn(r0, r1):
        if r0 in failing:
            raise RuntimeError(f"part {r0} failed")
        if r0 == 7:
            time.sleep(0.3)
            done.set()

    with pytest.raises(RuntimeError, match=f"part {failing[0]} failed"):
        ct.run_parts(fn, 10, 1)
    assert done.is_set(), "run_parts raised while a part was still running"


def _step(cfg, x, labels):
    m = RNN(cfg, backend=get_backend("cpu"), seed=3)
    y, c = m.forward(x, rng=np.random.default_rng(2))
    return y, c.hidden(), m.backward(c, cross_entropy(y, labels)[1])


@pytest.mark.parametrize("mask", ["locality", "random", "full"])
def test_without_threadpoolctl_the_loops_over_time_still_split(mask, monkeypatch):
    """BLAS not held (no threadpoolctl, no BLAS variable set): the parts that
    call BLAS on large operands run in one call (BLAS's own threads); the loops
    over time of a sparse W_rec are split across the workers all the same; the
    results do not change."""
    cfg = ModelConfig(n_in=6, n_out=3, hidden=144, mask=mask, sparsity=0.06 if mask != "full"
                      else 1.0, sigma_rec=0.3, dtype="float64", alpha=0.5, activation="tanh")
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((9, 13, 6)), rng.integers(0, 3, (9, 13))
    monkeypatch.setenv("REFRNN_THREADS", "1")
    one = _step(cfg, x, labels)
    monkeypatch.setattr(ct, "_CONTROLLER", False)  # as where threadpoolctl is not installed
    monkeypatch.setattr(ct, "_ENV_BLAS", None)
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setenv("REFRNN_THREADS", "3")
    asked, workers_for = [], ct.workers_for
    monkeypatch.setattr(ct, "workers_for", lambda w, blas=True: asked.append(
        (blas, workers_for(w, blas))) or asked[-1][1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 3 workers on BLAS's 2 or more: nothing to say
        got = _step(cfg, x, labels)
    assert all(w == 1 for blas, w in asked if blas), asked
    split = [w for blas, w in asked if not blas]
    assert split and all(w == 3 for w in split), asked  # the noise, and the loops if sparse
    assert len(split) == (3 if mask != "full" else 1)   # a dense W_rec's loops: BLAS's threads
    for a, b in zip(got[:2], one[:2]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    for k in one[2]:
        np.testing.assert_allclose(got[2][k], one[2][k], rtol=0, atol=1e-12, err_msg=k)


def test_blas_set_to_one_thread_by_the_environment_counts_as_held(monkeypatch):
    assert ct.env_blas_threads({}) is None
    assert ct.env_blas_threads({"OMP_NUM_THREADS": "1"}) == 1
    assert ct.env_blas_threads({"MKL_NUM_THREADS": "two", "OMP_NUM_THREADS": "0"}) is None
    # each BLAS's own variable wins over OMP_NUM_THREADS; another BLAS's is not read
    mixed = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "4"}
    assert ct.env_blas_threads(mixed, blas="openblas") == 1
    assert ct.env_blas_threads(mixed, blas="mkl") == 4
    assert ct.env_blas_threads(mixed, blas="blis") == 2
    assert ct.env_blas_threads(mixed, blas="") == 4  # unknown BLAS: the largest
    assert ct.numpy_blas() in ("openblas", "mkl", "blis", "")
    monkeypatch.setenv("REFRNN_THREADS", "2")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 0)
    monkeypatch.setattr(ct, "_ENV_BLAS", None)
    assert ct.workers_for(1e9) == 1 and ct.workers_for(1e9, blas=False) == 2
    monkeypatch.setattr(ct, "_ENV_BLAS", 1)
    assert ct.blas_held() and ct.workers_for(1e9) == 2


def test_fewer_threads_than_blas_runs_are_said_once_without_threadpoolctl(monkeypatch):
    monkeypatch.setattr(ct, "_CONTROLLER", False)
    monkeypatch.setattr(ct, "_ENV_BLAS", None)
    monkeypatch.setattr(ct, "_WARNED", False)
    monkeypatch.setattr(ct, "cores", lambda: 4)
    monkeypatch.setenv("REFRNN_THREADS", "1")
    with pytest.warns(RuntimeWarning, match="asked for 1 thread.*BLAS runs on 4.*threadpoolctl"):
        with ct.single_threaded_blas():
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ct.single_threaded_blas():  # once per process
            pass
        monkeypatch.setattr(ct, "_WARNED", False)
        monkeypatch.setenv("REFRNN_THREADS", "4")  # as many as BLAS: nothing to say
        with ct.single_threaded_blas():
            pass
        monkeypatch.setattr(ct, "_ENV_BLAS", 1)    # OPENBLAS_NUM_THREADS=1: BLAS is held
        monkeypatch.setenv("REFRNN_THREADS", "1")
        with ct.single_threaded_blas():
            pass
