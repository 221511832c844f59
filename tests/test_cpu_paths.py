"""The CPU fast paths (refrnn.cpu_loops / cpu_kernels) against the array-module code.

The array-module code is what CuPy runs; a Backend named "generic" runs it
here on NumPy, so both paths are checked on every machine.
"""
import numpy as np
import pytest
import scipy.sparse

import refrnn.cpu_kernels as ck
from refrnn.backend import Backend
from refrnn.bptt import MAX_RUNS, PatternProduct
from refrnn.losses import cross_entropy
from refrnn.model import RNN, ModelConfig

GENERIC = Backend("generic", np, scipy.sparse)


def _problem(cfg, T=6, B=3, seed=0, zero_cols=()):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, cfg.n_in))
    x[:, :, list(zero_cols)] = 0.0
    xi = rng.standard_normal((T, B, cfg.n_hidden))
    labels = rng.integers(0, cfg.n_out, (T, B))
    return x, xi, labels


def _run(cfg, backend, x, xi, labels, seed=3):
    m = RNN(cfg, backend=backend, seed=seed)
    if "h0" in m.params:
        m.params["h0"][:] = np.linspace(-0.3, 0.3, cfg.n_hidden)
    y, c = m.forward(x, noise=xi)
    return y, c.hidden(), m.backward(c, cross_entropy(y, labels)[1])


@pytest.mark.parametrize("mask,act,alpha,h0", [
    ("locality", "relu", 1.0, False), ("ring", "tanh", 0.3, True),
    ("random", "softplus", 0.5, True), ("full", "tanh", 1.0, False),
    ("autapse", "relu", 0.7, True)])
def test_cpu_path_equals_array_module_path(mask, act, alpha, h0):
    cfg = ModelConfig(n_in=9, n_out=4, n_hidden=100, activation=act, alpha=alpha, mask=mask,
                      sparsity=0.06, sigma_rec=0.3, dtype="float64", train_h0=h0)
    x, xi, labels = _problem(cfg, zero_cols=(2, 5, 6))
    y1, h1, g1 = _run(cfg, "cpu", x, xi, labels)
    y2, h2, g2 = _run(cfg, GENERIC, x, xi, labels)
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h1, h2, rtol=1e-12, atol=1e-13)
    assert set(g1) == set(g2)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert not g1["W_in"][:, [2, 5, 6]].any() and g1["W_in"][:, 0].any()


def test_drawn_noise_is_kept_reproducible():
    cfg = ModelConfig(n_in=5, n_out=3, n_hidden=64, sigma_rec=0.5, sparsity=0.1)
    m = RNN(cfg, seed=0)
    x = np.random.default_rng(1).standard_normal((7, 4, 5))
    y, c = m.forward(x, rng=np.random.default_rng(2))
    xi = c.noise()
    assert xi.shape == (7, 4, 64) and xi.dtype == np.float32
    np.testing.assert_array_equal(xi, c.noise())  # re-made, identical
    y2, c2 = m.forward(x, noise=xi)               # the same draws given explicitly
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(c.hidden(), c2.hidden())
    y3, c3 = m.forward(x, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(y, y3)
    assert not np.array_equal(xi, m.forward(x, rng=np.random.default_rng(3))[1].noise())


def test_box_muller_draws_are_standard_normal():
    z = ck.draw_noise(11, 301, 1001, np.float32).ravel()
    assert np.isfinite(z).all() and np.abs(z).max() < 5.8
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005
    assert abs(((z - z.mean()) ** 4).mean() / z.var() ** 2 - 3) < 0.05
    z64 = ck.draw_noise(11, 10, 7, np.float64)
    assert z64.dtype == np.float64 and abs(z64).max() > 0
    # the two row halves are independent streams, not copies
    half = ck.draw_noise(5, 2, 1000, np.float32)
    assert abs(np.corrcoef(half[0], half[1])[0, 1]) < 0.15


@pytest.mark.parametrize("mask", ["locality", "full"])
def test_threaded_split_equals_one_thread(monkeypatch, mask):
    cfg = ModelConfig(n_in=6, n_out=3, n_hidden=81, mask=mask, sparsity=0.1, alpha=0.6,
                      activation="tanh", dtype="float64", train_h0=True)
    x, xi, labels = _problem(cfg, T=5, B=4, zero_cols=(1,))
    out = {}
    for n in ("1", "2"):
        monkeypatch.setenv("REFRNN_THREADS", n)
        monkeypatch.setattr(ck, "PARALLEL_MIN", 0)  # split even tiny work
        out[n] = _run(cfg, "cpu", x, xi, labels)
    for a, b in zip(out["1"][:2], out["2"][:2]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    for k in out["1"][2]:
        np.testing.assert_allclose(out["1"][2][k], out["2"][2][k], rtol=1e-12, atol=1e-14)


def test_threads_setting():
    import os
    old = os.environ.get("REFRNN_THREADS")
    try:
        for bad in ("0", "two", "-1"):
            os.environ["REFRNN_THREADS"] = bad
            with pytest.raises(ValueError, match="REFRNN_THREADS"):
                ck.threads()
        os.environ["REFRNN_THREADS"] = "3"
        assert ck.threads() == 3
    finally:
        if old is None:
            os.environ.pop("REFRNN_THREADS", None)
        else:
            os.environ["REFRNN_THREADS"] = old


def test_pattern_product_wrapped_and_scattered_blocks():
    rng = np.random.default_rng(0)
    n = 64  # blocks of 8 rows
    rows, cols = [], []
    for i in range(n):
        if i < 8:    # block 0: sources wrap around the ends -> two runs
            c = np.r_[0:3, 60:64]
        elif i < 16:  # block 1: many scattered sources -> one gathered copy
            c = np.arange(0, 64, 7)
        else:
            c = np.arange(i - 2, i + 1) % n
        rows += [i] * len(c)
        cols += sorted(c)
    rows, cols = np.array(rows), np.array(cols)
    pp = PatternProduct(rows, cols, n, np)
    assert pp.blocked
    runs = [len(parts) for *_, parts in pp.blocks]
    assert runs[0] == 2 and runs[1] == 1
    assert not isinstance(pp.blocks[1][4][0][0], slice)  # gathered, not sliced
    assert len(np.unique(np.arange(0, 64, 7))) > MAX_RUNS
    A, Bm = rng.standard_normal((n, 30)), rng.standard_normal((n, 30))
    np.testing.assert_allclose(pp(A, Bm), (A @ Bm.T)[rows, cols], rtol=1e-12)


def test_helper_thread_is_remade_after_fork(monkeypatch):
    import os
    pool = ck._helper()
    assert ck._helper() is pool
    monkeypatch.setattr(ck, "_POOL", (os.getpid() + 1, pool))  # as seen by a forked child
    assert ck._helper() is not pool


def test_split_runs_beside_only_while_blas_is_held(monkeypatch):
    import threading
    monkeypatch.setenv("REFRNN_THREADS", "2")
    monkeypatch.setattr(ck, "PARALLEL_MIN", 0)

    def where():
        seen = {}
        ck.split_rows(lambda part, r0, r1: seen.update({part: threading.get_ident()}), 10, 1)
        return seen

    seen = where()  # outside a pass: BLAS is not held, so no helper
    assert seen[0] == seen[1] == threading.get_ident()
    with ck.single_threaded_blas():
        seen = where()
    if ck._CONTROLLER is not False:  # threadpoolctl present: the helper ran half 1
        assert seen[0] == threading.get_ident() != seen[1]
    monkeypatch.setattr(ck, "_CONTROLLER", False)  # as without threadpoolctl
    with ck.single_threaded_blas():
        seen = where()
    assert seen[0] == seen[1] == threading.get_ident()
