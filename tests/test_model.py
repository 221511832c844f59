"""The RNN: config, initialisation, forward against a plain loop, seeds, paths."""
import math

import numpy as np
import pytest

import refrnn.core.model as model_mod
import refrnn.backends.plain as primitives_array
from refrnn.backends.pattern_products import PatternProduct
from refrnn.core.losses import cross_entropy
from refrnn.core.masks import make_mask
from refrnn.core.model import RNN, ModelConfig
from refrnn.core.optim import Adam
from model_helpers import dense_w_rec


def _naive(model, x, xi):
    """The one equation, step by step with a dense W_rec (float64 NumPy)."""
    cfg, P = model.config, {k: model.backend.to_numpy(v).astype(np.float64)
                            for k, v in model.params.items()}
    W = dense_w_rec(model).astype(np.float64)
    f = {"relu": lambda u: np.maximum(u, 0), "tanh": np.tanh,
         "softplus": lambda u: np.log1p(np.exp(u))}[cfg.activation]
    T, B, _ = x.shape
    h = np.tile(P.get("h0", np.zeros(cfg.hidden)), (B, 1))
    ys, hs = [], []
    for t in range(T):
        u = x[t] @ P["W_in"].T + P["b"] + h @ W.T
        u = u + math.sqrt(2 / cfg.alpha) * cfg.sigma_rec * xi[t]
        h = (1 - cfg.alpha) * h + cfg.alpha * f(u)
        hs.append(h)
        ys.append(h @ P["W_out"].T + P["b_out"])
    return np.stack(ys), np.stack(hs)


@pytest.mark.parametrize("mask,act,alpha", [("locality", "relu", 1.0), ("ring", "tanh", 0.2),
                                            ("random", "softplus", 0.5), ("full", "tanh", 1.0),
                                            ("autapse", "relu", 0.3)])
def test_forward_matches_plain_loop(backend, mask, act, alpha):
    cfg = ModelConfig(n_in=7, n_out=5, hidden=100, activation=act, alpha=alpha, mask=mask,
                      sparsity=0.05, sigma_rec=0.2, dtype="float64", train_h0=True)
    m = RNN(cfg, backend=backend, seed=4)
    m.params["h0"][:] = backend.asarray(np.linspace(-0.5, 0.5, 100))
    rng = np.random.default_rng(0)
    x, xi = rng.standard_normal((6, 3, 7)), rng.standard_normal((6, 3, 100))
    y, record = m.forward(x, noise=xi)
    y_ref, h_ref = _naive(m, x, xi)
    np.testing.assert_allclose(backend.to_numpy(y), y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(record.hidden()), h_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(record.noise()), xi)


def test_config_validation_and_round_trip():
    c = ModelConfig(n_in=40, activation="tanh", alpha=0.2, dtype="float64", train_h0=True)
    assert ModelConfig(**c.to_dict()) == c
    assert ModelConfig(n_in=3).dtype == "float32"
    bad = [dict(alpha=0), dict(alpha=1.5), dict(alpha=float("nan")), dict(activation="gelu"),
           dict(dtype="float16"), dict(hidden=0), dict(n_out=-1), dict(mask="grid"),
           dict(sigma_rec=-0.1)]
    for kw in bad:
        with pytest.raises(ValueError, match=repr(next(iter(kw.values())))[:4]):
            ModelConfig(n_in=3, **kw)
    with pytest.raises(ValueError, match="n_in"):
        ModelConfig(n_in=0)
    with pytest.raises(TypeError, match="bogus"):
        ModelConfig(**{"n_in": 3, "bogus": 1})


def test_shapes_dtypes_and_initial_scale():
    m = RNN(ModelConfig(n_in=159, hidden=1024, init_radius=0.0), seed=0)  # the 1/k draw
    shapes = {k: v.shape for k, v in m.params.items()}
    assert shapes == {"W_in": (1024, 159), "b": (1024,), "w_rec": (m.mask.nnz,),
                      "W_out": (17, 1024), "b_out": (17,)}
    assert all(v.dtype == np.float32 for v in m.params.values())
    k = 41  # round(0.04 * 1024)
    assert np.std(m.params["w_rec"]) == pytest.approx(1 / math.sqrt(k), rel=0.03)
    assert np.std(m.params["W_in"]) == pytest.approx(1 / math.sqrt(159), rel=0.03)
    assert np.std(m.params["W_out"]) == pytest.approx(1 / math.sqrt(1024), rel=0.05)
    assert not m.params["b"].any() and not m.params["b_out"].any()
    # A 4% mask and a full matrix give W_rec h of the same spread.
    h = np.random.default_rng(1).standard_normal((256, 64))
    spread = [np.std(dense_w_rec(RNN(ModelConfig(n_in=3, mask=mk, dtype="float64",
                                                 init_radius=0.0), seed=2)) @ h)
              for mk in ("locality", "full")]
    assert spread[0] == pytest.approx(spread[1], rel=0.15)


def test_seeds_fix_weights_noise_and_loss():
    cfg = ModelConfig(n_in=4, n_out=3, hidden=49, sparsity=0.1, mask="random", mask_seed=3)
    x = np.random.default_rng(0).standard_normal((5, 2, 4))
    labels = np.zeros((5, 2), dtype=np.int64)

    def run(seed, noise_seed):
        m = RNN(cfg, seed=seed)
        y, c = m.forward(x, rng=m.backend.rng(noise_seed))
        return m, c, cross_entropy(y, labels)[0]

    a, ca, la = run(1, 7)
    b, cb, lb = run(1, 7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    np.testing.assert_array_equal(ca.xi, cb.xi)
    assert la == lb
    c, cc, lc = run(2, 7)
    assert not np.array_equal(a.params["w_rec"], c.params["w_rec"])
    d, cd, ld = run(1, 8)
    assert not np.array_equal(ca.xi, cd.xi) and ld != la
    # no rng and no noise: deterministic and noise-free
    y1, c1 = a.forward(x)
    assert c1.xi is None and np.array_equal(y1, a.forward(x)[0])


def test_sparse_and_dense_paths_agree(monkeypatch):
    cfg = ModelConfig(n_in=6, n_out=4, hidden=64, activation="tanh", alpha=0.5,
                      sparsity=0.08, dtype="float64", train_h0=True)
    rng = np.random.default_rng(3)
    x, xi, lab = (rng.standard_normal((7, 2, 6)), rng.standard_normal((7, 2, 64)),
                  rng.integers(0, 4, (7, 2)))
    out = []
    for thr in (0.1, 0.0):  # 0.0 forces the dense path
        monkeypatch.setattr(primitives_array, "DENSE_DENSITY", thr)
        m = RNN(cfg, seed=0)
        assert m.W.dense == (thr == 0.0)
        y, c = m.forward(x, noise=xi)
        out.append((y, m.backward(c, cross_entropy(y, lab)[1])))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-12, atol=1e-13)
    for k in out[0][1]:
        np.testing.assert_allclose(out[0][1][k], out[1][1][k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["locality", "ring", "random", "full"])
def test_pattern_product_blocked_equals_dense(kind):
    m = make_mask(kind, 256, 0.04, seed=1)
    rows = np.repeat(np.arange(256), np.diff(m.indptr))
    pp = PatternProduct(rows, m.indices.astype(np.int64), 256, np)
    if kind in ("locality", "ring", "full"):  # random may go either way
        assert pp.blocked == (kind != "full")
    rng = np.random.default_rng(0)
    A, Bm = rng.standard_normal((256, 50)), rng.standard_normal((256, 50))
    np.testing.assert_allclose(pp(A, Bm), (A @ Bm.T)[rows, m.indices], rtol=1e-12)


def test_weights_outside_pattern_never_appear():
    cfg = ModelConfig(n_in=3, n_out=3, hidden=64, sparsity=0.1)
    m = RNN(cfg, seed=0)
    opt = Adam(m.params, lr=0.05)
    rng = np.random.default_rng(1)
    outside = m.mask.toarray() == 0
    w0 = m.params["w_rec"].copy()
    for _ in range(5):
        y, c = m.forward(rng.standard_normal((6, 4, 3)), rng=m.backend.rng(2))
        g = m.backward(c, cross_entropy(y, rng.integers(0, 3, (6, 4)))[1])
        assert g["w_rec"].shape == (m.mask.nnz,)
        opt.step(m.params, g)
    assert not np.array_equal(w0, m.params["w_rec"])
    W = dense_w_rec(m)
    assert not W[outside].any() and np.count_nonzero(W) == m.mask.nnz


def test_bad_shapes():
    m = RNN(ModelConfig(n_in=3, n_out=2, hidden=16, sparsity=0.25))
    with pytest.raises(ValueError, match=r"\(5, 2, 4\)"):
        m.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match="noise"):
        m.forward(np.zeros((5, 2, 3)), noise=np.zeros((5, 2, 15)))
    y, c = m.forward(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="dy"):
        m.backward(c, np.zeros((5, 2, 3)))


def test_self_connections_start_bounded_so_autapse_nets_stay_finite():
    """Initial self-weights are clipped to SELF_MAX; without it an autapse
    relu net (k = 1, w_ii ~ N(0, 1)) overflows float32 within T = 200."""
    m = RNN(ModelConfig(n_in=5, hidden=256, mask="autapse", init_radius=0.0), seed=0)
    w = m.params["w_rec"]
    assert np.abs(w).max() <= model_mod.SELF_MAX
    assert (np.abs(w) == model_mod.SELF_MAX).sum() > 256 * 0.2  # the clip acted
    x = np.abs(np.random.default_rng(0).standard_normal((200, 4, 5))).astype(np.float32)
    y, _ = m.forward(x, rng=np.random.default_rng(1))
    assert np.isfinite(y).all()
    # Dense masks draw the same as before: nothing near the bound is touched.
    full = RNN(ModelConfig(n_in=5, hidden=64, mask="full", dtype="float64", init_radius=0.0),
               seed=3)
    raw = np.random.default_rng(3)
    raw.standard_normal((64, 5))
    assert np.array_equal(full.params["w_rec"], raw.standard_normal(64 * 64) / 8.0)


def test_default_outputs_are_the_task_classes():
    """ModelConfig's default n_out is N_CLASSES, the task classes."""
    from refrnn.tasks.trials import N_CLASSES
    assert ModelConfig(n_in=3).n_out == N_CLASSES
