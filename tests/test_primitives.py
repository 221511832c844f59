"""Every fast primitive against the plain reference set, and the whole step.

The engine (refrnn.core.engine) runs one forward and one backward loop on every
backend; backends differ only in their primitives. The reference is
refrnn.backends.plain on NumPy (``reference_backend()``); the same set with
the blocked sampled product (``reference_backend(blocked=True)``) is exactly
what CUDA runs, so it is checked here too, on NumPy.
"""
import threading
import weakref

import numpy as np
import pytest
import scipy.sparse as sp

import refrnn.backends.threads as ct
from refrnn.backends.backend import available_devices, get_backend, reference_backend
from refrnn.core.losses import cross_entropy
from refrnn.core.masks import make_mask
from refrnn.core.model import RNN, ModelConfig
from refrnn.backends.noise import draw_noise
from refrnn.backends.pattern_products import MAX_RUNS, PatternProduct
from refrnn.backends.plain import ArrayNoise, ArrayPrimitives
from refrnn.backends.fast_cpu import CpuPrimitives, SeededNoise

TOL = 1e-12  # float64, relative to the array's scale


def _close(got, ref, what=""):
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(np.asarray(got) - ref).max())
    assert err <= TOL * scale, f"{what}: {err:.3g} > {TOL} * {scale:.3g}"


@pytest.fixture
def split_always(monkeypatch):
    """Every split runs in three parts, two of them on the pool."""
    monkeypatch.setenv("REFRNN_THREADS", "3")
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
    for name, ref in (("Wx", W @ x), ("WTx", W.T @ x), ("add_WTx", out0 + W.T @ x)):
        out = bk.prims.step_buffer(bk.asarray(out0))
        getattr(op, name)(bk.prims.step_buffer(bk.asarray(x)), out)
        _close(bk.to_numpy(out), ref, f"{which} {kind} {name}")
    got = op.sampled(bk.asarray(A), bk.asarray(Bm))
    _close(bk.to_numpy(got), (A @ Bm.T)[rows, mask.indices], f"{which} {kind} sampled")
    assert op.dense == (kind == "full")


def test_cpu_sparse_product_refuses_buffers_it_cannot_write_in_place():
    mask = make_mask("locality", 64, 0.1, 0)
    op = CpuPrimitives().recurrent(mask, np.float64)
    assert op.layout == "csr"
    op.load(np.ones(mask.nnz))
    x = np.ones((64, 3))
    with pytest.raises(ValueError, match="C-contiguous"):
        op.add_WTx(x, np.zeros((64, 3), order="F"))  # a silent copy would lose the sum
    with pytest.raises(ValueError, match="dtypes"):
        op.add_WTx(x.astype(np.float32), np.zeros((64, 3)))


@pytest.mark.parametrize("k", [90, 50_000])  # chunks of many rows; of two rows
def test_seeded_noise_is_the_reference_stream(k):
    n = 37
    b = np.linspace(-1, 1, n)
    ref = np.zeros((n, k))
    arr, seeded = ArrayNoise(draw_noise(9, n, k, np.float64)), SeededNoise(9, n, k, np.float64)
    arr.add(ref, 0.3, b, 0, n)
    for cuts in ([0, n], [0, 1, 18, 19, n], [0, 5, 6, 7, 30, n]):  # any split, cutting chunks
        fast = np.zeros((n, k))
        for r0, r1 in zip(cuts[:-1], cuts[1:]):
            seeded.add(fast, 0.3, b, r0, r1)
        np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(seeded.array(), arr.array())
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
        m.params["h0"][:] = np.linspace(-0.3, 0.3, cfg.hidden)
    y, c = m.forward(x, rng=np.random.default_rng(noise_seed))
    return y, c.hidden(), c.noise(), m.backward(c, cross_entropy(y, labels)[1])


@pytest.mark.parametrize("mask,act,alpha,h0,zero_cols", [
    ("locality", "relu", 1.0, False, (2, 5, 6)), ("ring", "tanh", 0.3, True, ()),
    ("random", "softplus", 0.5, True, (2, 5, 6)), ("full", "tanh", 1.0, False, ()),
    ("autapse", "relu", 0.7, True, (2, 5, 6))])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_whole_step_matches_reference(mask, act, alpha, h0, zero_cols, threads, monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", threads)
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)  # split even tiny work
    handed = []
    pool = ct.pool
    monkeypatch.setattr(ct, "pool", lambda w: handed.append(w) or pool(w))
    cfg = ModelConfig(n_in=9, n_out=4, hidden=100, activation=act, alpha=alpha, mask=mask,
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
    assert bool(handed) == (threads == "3")  # the pool really took work
    g = ref[3]["W_in"]
    assert g[:, 0].any() and not g[:, list(zero_cols)].any()


@pytest.mark.parametrize("mask,act,alpha", [("locality", "relu", 1.0), ("ring", "tanh", 0.2),
                                            ("random", "softplus", 0.5), ("full", "relu", 1.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_results_do_not_depend_on_the_thread_count(mask, act, alpha, dtype, monkeypatch):
    """One step on 1, 2, 3 and 7 workers: the noise bit-identical, the
    outputs, states and gradients within the dtype's rounding (BLAS may sum
    a row of a product in another order when it is given fewer rows)."""
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    cfg = ModelConfig(n_in=9, n_out=4, hidden=144, activation=act, alpha=alpha, mask=mask,
                      sparsity=0.06, sigma_rec=0.3, dtype=dtype, train_h0=True)
    x, labels = _problem(cfg, T=9, B=13, zero_cols=(2, 5))
    results = {}
    for threads in (1, 2, 3, 7):
        monkeypatch.setenv("REFRNN_THREADS", str(threads))
        y, h, xi, g = _step(cfg, get_backend("cpu"), x, labels)
        results[threads] = {"y": y, "h": h, "xi": xi, **g}
    one = results[1]
    for threads, got in results.items():
        np.testing.assert_array_equal(got["xi"], one["xi"], err_msg=f"{threads} threads")
        for k in one:
            scale = max(1.0, float(np.abs(one[k]).max()))
            err = float(np.abs(got[k] - one[k]).max())
            assert err <= 8 * np.finfo(dtype).eps * scale, f"{threads} threads: {k} {err:.3g}"


@pytest.mark.parametrize("mask", ["locality", "full"])
def test_backward_uses_the_weights_of_its_forward_pass(mask):
    """Parameters that move between forward and backward (an evaluation in
    between, an optimiser) must not change the gradient of that pass."""
    cfg = ModelConfig(n_in=5, n_out=3, hidden=64, mask=mask, sparsity=0.1 if mask != "full"
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
    cfg = ModelConfig(n_in=5, n_out=3, hidden=64, sigma_rec=0.5, sparsity=0.1)
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
    two = draw_noise(5, 2, 1 << 17, np.float32)  # one row a chunk: independent streams
    assert abs(np.corrcoef(two[0], two[1])[0, 1]) < 0.01


def test_float32_uniforms_are_the_raw_words_24_bits_at_a_time():
    from refrnn.backends.noise import uniforms32
    u = uniforms32(np.random.SFC64(7), np.empty((2, 50001), np.float32))
    words = np.random.SFC64(7).random_raw(50001)
    halves = np.stack([words & 0xFFFFFFFF, words >> 32], axis=1).ravel() >> 8
    np.testing.assert_array_equal(u.ravel() * 2 ** 24, halves.astype(np.float32))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


def test_threads_setting(monkeypatch):
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("REFRNN_THREADS", bad)
        with pytest.raises(ValueError, match="REFRNN_THREADS"):
            ct.threads()
    monkeypatch.setenv("REFRNN_THREADS", "3")
    assert ct.threads() == 3
    monkeypatch.delenv("REFRNN_THREADS")
    assert ct.threads() == ct.cores()             # default: the cores available
    try:
        ct.set_threads(5)                         # the setting wins over the variable
        monkeypatch.setenv("REFRNN_THREADS", "3")
        assert ct.threads() == 5
        for bad in (0, -2, 1.5, True):
            with pytest.raises(ValueError, match="threads"):
                ct.set_threads(bad)
        get_backend("cpu", threads=4)             # the training run's `threads` setting
        assert ct.threads() == 4
        get_backend("cpu")                        # None: left as it is
        assert ct.threads() == 4
        get_backend("cpu", threads=0)             # 0: the default again (settings' help), not
        assert ct.threads() == 3                  # an earlier run's 4
    finally:
        ct.set_threads(None)
    assert ct.threads() == 3


def test_split_covers_the_range_in_near_equal_parts():
    assert ct.split(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert ct.split(2, 5) == [(0, 1), (1, 2)]
    assert ct.split(7, 1) == [(0, 7)]


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
    pp = PatternProduct(rows, cols, n, np, parts=ct.run_parts)
    assert pp.blocked
    runs = [len(parts) for *_, parts in pp.blocks]
    assert runs[0] == 2 and runs[1] == 1
    assert not isinstance(pp.blocks[1][4][0][0], slice)  # gathered, not sliced
    assert len(np.unique(np.arange(0, 64, 7))) > MAX_RUNS
    A, Bm = rng.standard_normal((n, 30)), rng.standard_normal((n, 30))
    _close(pp(A, Bm), (A @ Bm.T)[rows, cols])


def test_pool_is_remade_after_fork_and_grows(monkeypatch):
    import os
    pool = ct.pool(1)
    assert ct.pool(1) is pool
    monkeypatch.setattr(ct, "_POOL", (os.getpid() + 1, pool, 1))  # as seen by a forked child
    assert ct.pool(1) is not pool
    small = ct.pool(1)
    assert ct.pool(3) is not small and ct.pool(2) is ct.pool(3)


def test_split_runs_on_the_pool_only_while_blas_is_held(monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", "3")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_ENV_BLAS", None)  # BLAS not set to one thread by the environment

    def where():
        seen = {}
        ct.run_parts(lambda r0, r1: seen.update({(r0, r1): threading.get_ident()}), 10, 1)
        return seen

    me = threading.get_ident()
    monkeypatch.setattr(ct, "_HELD", 0)  # outside a pass: one part, here
    assert where() == {(0, 10): me}
    monkeypatch.setattr(ct, "_HELD", 1)  # inside a pass with BLAS held: three parts
    seen = where()
    assert sorted(seen) == [(0, 4), (4, 7), (7, 10)]
    assert seen[(0, 4)] == me and me not in (seen[(4, 7)], seen[(7, 10)])
    monkeypatch.setenv("REFRNN_THREADS", "1")  # one thread means one thread
    assert where() == {(0, 10): me}
    monkeypatch.setenv("REFRNN_THREADS", "4")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 100)  # each part needs 100 multiply-adds
    assert ct.workers_for(99) == 1 and ct.workers_for(250) == 2 and ct.workers_for(1e9) == 4


def test_an_error_in_a_worker_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("REFRNN_THREADS", "2")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 1)

    def fn(r0, r1):
        if r0 > 0:
            raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError, match="worker failed"):
        ct.run_parts(fn, 10, 1)


def test_single_threaded_blas_holds_blas_at_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with ct.single_threaded_blas():
        infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert infos and all(i["num_threads"] == 1 for i in infos)
        assert ct._HELD == 1
    assert ct._HELD == 0


def test_record_arrays_are_reused_only_once_nothing_holds_them():
    cfg = ModelConfig(n_in=5, n_out=3, hidden=64, sigma_rec=0.2, sparsity=0.1)
    m, fresh = RNN(cfg, seed=0), RNN(cfg, seed=0)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((7, 4, 5)) for _ in range(4)]
    y1, r1 = m.forward(xs[0], rng=np.random.default_rng(0))
    y2, r2 = m.forward(xs[1], rng=np.random.default_rng(0))
    assert not np.shares_memory(r1.u, r2.u) and not np.shares_memory(r1.h, r2.h)
    u1 = weakref.ref(r1.u)
    del r1, y1
    y3, r3 = m.forward(xs[2], rng=np.random.default_rng(0))
    assert u1() is r3.u                           # r1's arrays, kept and written again
    want = fresh.forward(xs[2], rng=np.random.default_rng(0))[1]
    np.testing.assert_array_equal(r3.hidden(), want.hidden())
    view = r2.h[:, 3:9]                           # a view keeps r2's arrays held
    del r2, y2
    y4, r4 = m.forward(xs[3], rng=np.random.default_rng(0))
    assert not np.shares_memory(r4.h, view) and not np.shares_memory(r4.h, r3.h)
    y5, r5 = m.forward(xs[3][:3], rng=np.random.default_rng(0))  # another shape: new arrays
    assert r5.u.shape == (64, 3 * 4)
