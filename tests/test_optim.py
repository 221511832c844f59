"""Adam and clipping: by-hand values, state round trip, PyTorch agreement."""
import numpy as np
import pytest

from refrnn.core.optim import Adam, clip_grad_norm


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(50)]
    return params, grads


def test_first_step_by_hand():
    p = {"w": np.array([1.0, -2.0, 0.5])}
    g = {"w": np.array([0.3, -4.0, 0.0])}
    Adam(p, lr=0.1).step(p, g)
    # m_hat = g, v_hat = g^2 after one step: p -= lr * g / (|g| + eps)
    np.testing.assert_allclose(p["w"], [1.0 - 0.1 * 0.3 / (0.3 + 1e-8),
                                        -2.0 + 0.1 * 4.0 / (4.0 + 1e-8), 0.5], rtol=1e-15)


def test_matches_torch_adam_50_steps():
    torch = pytest.importorskip("torch")
    params, grads = _problem()
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    topt = torch.optim.Adam(list(tp.values()), lr=3e-3, betas=(0.8, 0.99), eps=1e-7)
    opt = Adam(params, lr=3e-3, betas=(0.8, 0.99), eps=1e-7)
    for g in grads:
        opt.step(params, g)
        for k, t in tp.items():
            t.grad = torch.tensor(g[k])
        topt.step()
    for k in params:
        ref = tp[k].detach().numpy()
        assert np.abs(params[k] - ref).max() <= 1e-12 * np.abs(ref).max()


def test_state_dict_resume_is_exact():
    params, grads = _problem(1)
    opt = Adam(params, lr=0.01)
    for g in grads[:20]:
        opt.step(params, g)
    state = opt.state_dict()
    saved = {k: v.copy() for k, v in params.items()}
    for g in grads[20:]:
        opt.step(params, g)
    opt2 = Adam(saved, lr=0.5)
    opt2.load_state_dict(state)
    assert opt2.step_count == 20 and opt2.lr == 0.01
    for g in grads[20:]:
        opt2.step(saved, g)
    for k in params:
        np.testing.assert_array_equal(params[k], saved[k])
    state["m"]["a"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="shape"):
        opt2.load_state_dict(state)


def test_clip_grad_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(g, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(g["a"], [3.0, 0.0])  # below the limit: untouched
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    total = np.sqrt((g["a"] ** 2).sum() + (g["b"] ** 2).sum())
    assert total == pytest.approx(1.0, rel=1e-6)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_norm"):
            clip_grad_norm(g, bad)


def test_clip_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    g = {"a": rng.standard_normal((4, 4)) * 3, "b": rng.standard_normal(7)}
    ts = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for t, v in zip(ts, g.values()):
        t.grad = torch.tensor(v)
    tn = torch.nn.utils.clip_grad_norm_(ts, 2.0)
    n = clip_grad_norm(g, 2.0)
    assert n == pytest.approx(float(tn), rel=1e-14)
    for t, v in zip(ts, g.values()):
        np.testing.assert_allclose(v, t.grad.numpy(), rtol=1e-14)


def test_adam_bad_settings():
    p = {"w": np.zeros(2)}
    for kw in (dict(lr=0), dict(lr=float("nan")), dict(betas=(1.0, 0.9)), dict(eps=0)):
        with pytest.raises(ValueError):
            Adam(p, **kw)
    with pytest.raises(ValueError, match="keys"):
        Adam(p).step(p, {"v": np.zeros(2)})
