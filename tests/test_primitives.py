"""Every fast primitive against the plain reference set, and the whole step.

The engine (refrnn.core.engine) runs one forward and one backward loop on every
backend; backends differ only in their primitives. The reference is
refrnn.backends.plain on NumPy (``reference_backend()``); the same set with
the blocked sampled product (``reference_backend(blocked=True)``) is exactly
what CUDA runs, so it is checked here too, on NumPy.
"""
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import refrnn.backends.threads as ct
from refrnn.backends.backend import available_devices, get_backend, reference_backend
from refrnn.core.losses import cross_entropy
from refrnn.core.masks import make_mask
from refrnn.core.model import RNN, ModelConfig
from refrnn.backends.noise import draw_noise
from refrnn.backends.sampled_product import MAX_RUNS, PatternProduct
from refrnn.backends.plain import ArrayNoise, ArrayPrimitives
from refrnn.backends.fast_cpu import CpuPrimitives, SeededNoise

TOL = 1e-12  # float64, relative to the array's scale


def _close(got, ref, what=""):
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(np.asarray(got) - ref).max())
    assert err <= TOL * scale, f"{what}: {err:.3g} > {TOL} * {scale:.3g}"


@pytest.fixture
def split_always(monkeypatch):
    """Every split runs its second half on the helper thread."""
    monkeypatch.setenv("REFRNN_THREADS", "2")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 1)


SETS = {"cpu": lambda: get_backend("cpu"), "reference": reference_backend,
        "cuda-set-on-numpy": lambda: reference_backend(blocked=True),
        "cuda": lambda: get_backend("cuda")}


@pytest.mark.parametrize("kind,s", [("locality", 0.04), ("ring", 0.05), ("random", 0.04),
                                    ("autapse", 0.01), ("full", 1.0)])
@pytest.mark.parametrize("which", sorted(SETS))
def test_recurrent_primitives_match_dense_algebra(kind, s, which, split_always):
    """Each set's operator, one primitive at a time, against dense NumPy algebra."""
    if which == "cuda" and "cuda" not in available_devices():
        pytest.skip("no CUDA GPU with CuPy here")
    bk = SETS[which]()
    n, B = 256, 7
    mask = make_mask(kind, n, s, 1)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(mask.nnz)
    W = sp.csr_matrix((w, mask.indices, mask.indptr), shape=(n, n)).toarray()
    x, out0 = rng.standard_normal((n, B)), rng.standard_normal((n, B))
    A, Bm = rng.standard_normal((n, 40)), rng.standard_normal((n, 40))
    rows = np.repeat(np.arange(n), np.diff(mask.indptr))
    op = bk.prims.recurrent(mask, np.float64)
    op.load(bk.asarray(w))
    for add, ref in ((op.add_Wx, W @ x), (op.add_WTx, W.T @ x)):
        out = bk.prims.step_buffer(bk.asarray(out0))
        add(bk.prims.step_buffer(bk.asarray(x)), out)
        _close(bk.to_numpy(out), out0 + ref, f"{which} {kind} {add.__name__}")
    got = op.sampled(bk.asarray(A), bk.asarray(Bm))
    _close(bk.to_numpy(got), (A @ Bm.T)[rows, mask.indices], f"{which} {kind} sampled")
    assert op.dense == (kind == "full")


def test_cpu_sparse_product_refuses_buffers_it_cannot_write_in_place():
    op = CpuPrimitives().recurrent(make_mask("locality", 64, 0.1, 0), np.float64)
    op.load(np.ones(op.csr.nnz))
    x = np.ones((64, 3))
    with pytest.raises(ValueError, match="C-contiguous"):
        op.add_Wx(x, np.zeros((64, 3), order="F"))  # a silent copy would lose the sum
    with pytest.raises(ValueError, match="dtypes"):
        op.add_Wx(x.astype(np.float32), np.zeros((64, 3)))


def test_seeded_noise_is_the_reference_stream():
    n, k = 37, 90
    b = np.linspace(-1, 1, n)
    ref, fast = np.zeros((n, k)), np.zeros((n, k))
    arr, seeded = ArrayNoise(draw_noise(9, n, k, np.float64)), SeededNoise(9, n, k, np.float64)
    for part, (r0, r1) in enumerate(((0, n // 2), (n // 2, n))):
        arr.add(ref, 0.3, b, part, r0, r1)
        seeded.add(fast, 0.3, b, part, r0, r1)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(seeded.array(), arr.array())
    with pytest.raises(ValueError, match="halves"):
        seeded.add(fast, 0.3, b, 0, 0, n)
    gen = np.random.default_rng(4)
    np.testing.assert_array_equal(CpuPrimitives().draw_noise(gen, n, k, np.float32).array(),
                                  ArrayPrimitives(np, sp).draw_noise(np.random.default_rng(4), n, k,
                                                                    np.float32).array())


def _problem(cfg, T=6, B=3, seed=0, zero_cols=()):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, cfg.n_in))
    x[:, :, list(zero_cols)] = 0.0
    return x, rng.integers(0, cfg.n_out, (T, B))


def _step(cfg, backend, x, labels, noise_seed=2):
    m = RNN(cfg, backend=backend, seed=3)
    if "h0" in m.params:
        m.params["h0"][:] = np.linspace(-0.3, 0.3, cfg.n_hidden)
    y, c = m.forward(x, rng=np.random.default_rng(noise_seed))
    return y, c.hidden(), c.noise(), m.backward(c, cross_entropy(y, labels)[1])


@pytest.mark.parametrize("mask,act,alpha,h0,zero_cols", [
    ("locality", "relu", 1.0, False, (2, 5, 6)), ("ring", "tanh", 0.3, True, ()),
    ("random", "softplus", 0.5, True, (2, 5, 6)), ("full", "tanh", 1.0, False, ()),
    ("autapse", "relu", 0.7, True, (2, 5, 6))])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_whole_step_matches_reference(mask, act, alpha, h0, zero_cols, threads, monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", threads)
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)  # split even tiny work
    handed = []
    pool = ct.helper()
    monkeypatch.setattr(ct, "helper", lambda: handed.append(1) or pool)
    cfg = ModelConfig(n_in=9, n_out=4, n_hidden=100, activation=act, alpha=alpha, mask=mask,
                      sparsity=0.06, sigma_rec=0.3, dtype="float64", train_h0=h0)
    x, labels = _problem(cfg, zero_cols=zero_cols)
    ref = _step(cfg, reference_backend(), x, labels)
    for backend in (get_backend("cpu"), reference_backend(blocked=True)):
        got = _step(cfg, backend, x, labels)
        for what, a, r in zip(("y", "h", "xi"), got[:3], ref[:3]):
            _close(a, r, what)
        assert set(got[3]) == set(ref[3])
        for k in ref[3]:
            _close(got[3][k], ref[3][k], k)
    assert bool(handed) == (threads == "2")  # the helper thread really took work
    g = ref[3]["W_in"]
    assert g[:, 0].any() and not g[:, list(zero_cols)].any()


@pytest.mark.parametrize("mask", ["locality", "full"])
def test_backward_uses_the_weights_of_its_forward_pass(mask):
    """Parameters that move between forward and backward (an evaluation in
    between, an optimiser) must not change the gradient of that pass."""
    cfg = ModelConfig(n_in=5, n_out=3, n_hidden=64, mask=mask, sparsity=0.1 if mask != "full"
                      else 1.0, activation="tanh", dtype="float64")
    x, labels = _problem(cfg)
    m = RNN(cfg, seed=1)
    y, c = m.forward(x)
    dy = cross_entropy(y, labels)[1]
    want = m.backward(c, dy)
    m.params["w_rec"] *= 3.0
    m.forward(x)                 # another pass with other weights in between
    got = m.backward(c, dy)      # still the gradient at the first pass's weights
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


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
    assert not np.array_equal(xi, m.forward(x, rng=np.random.default_rng(3))[1].noise())


def test_box_muller_draws_are_standard_normal():
    z = draw_noise(11, 301, 1001, np.float32).ravel()
    assert np.isfinite(z).all() and np.abs(z).max() < 5.8
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005
    assert abs(((z - z.mean()) ** 4).mean() / z.var() ** 2 - 3) < 0.05
    z64 = draw_noise(11, 10, 7, np.float64)
    assert z64.dtype == np.float64 and abs(z64).max() > 0
    half = draw_noise(5, 2, 1000, np.float32)  # the two row halves are independent streams
    assert abs(np.corrcoef(half[0], half[1])[0, 1]) < 0.15


def test_threads_setting(monkeypatch):
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("REFRNN_THREADS", bad)
        with pytest.raises(ValueError, match="REFRNN_THREADS"):
            ct.threads()
    monkeypatch.setenv("REFRNN_THREADS", "3")
    assert ct.threads() == 3


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
    pp = PatternProduct(rows, cols, n, np, row_parts=ct.row_parts)
    assert pp.blocked
    runs = [len(parts) for *_, parts in pp.blocks]
    assert runs[0] == 2 and runs[1] == 1
    assert not isinstance(pp.blocks[1][4][0][0], slice)  # gathered, not sliced
    assert len(np.unique(np.arange(0, 64, 7))) > MAX_RUNS
    A, Bm = rng.standard_normal((n, 30)), rng.standard_normal((n, 30))
    _close(pp(A, Bm), (A @ Bm.T)[rows, cols])


def test_helper_thread_is_remade_after_fork(monkeypatch):
    import os
    pool = ct.helper()
    assert ct.helper() is pool
    monkeypatch.setattr(ct, "_POOL", (os.getpid() + 1, pool))  # as seen by a forked child
    assert ct.helper() is not pool


def test_split_runs_beside_only_while_blas_is_held(monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", "2")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)

    def where():
        seen = {}
        ct.row_parts(lambda part, r0, r1: seen.update({part: threading.get_ident()}), 10, 1)
        return seen

    me = threading.get_ident()
    monkeypatch.setattr(ct, "_HELD", 0)  # outside a pass: no helper
    assert where() == {0: me, 1: me}
    monkeypatch.setattr(ct, "_HELD", 1)  # inside a pass with BLAS held: half 1 beside
    seen = where()
    assert seen[0] == me != seen[1]
    monkeypatch.setenv("REFRNN_THREADS", "1")  # one thread means one thread
    assert where() == {0: me, 1: me}


def test_single_threaded_blas_holds_blas_at_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with ct.single_threaded_blas():
        infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert infos and all(i["num_threads"] == 1 for i in infos)
        assert ct._HELD == 1
    assert ct._HELD == 0
