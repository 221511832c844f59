"""Losses: values against direct formulas, gradients against differences, errors."""
import numpy as np
import pytest
from scipy.special import log_softmax

from refrnn.core.losses import cross_entropy, masked_mse


def _fd(fun, y, eps=1e-6):
    g = np.empty_like(y)
    for i in np.ndindex(y.shape):
        yp, ym = y.copy(), y.copy()
        yp[i] += eps
        ym[i] -= eps
        g[i] = (fun(yp) - fun(ym)) / (2 * eps)
    return g


def test_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 3, 5))
    lab = rng.integers(0, 5, (4, 3))
    w = rng.uniform(0, 2, (4, 3))
    w[1, 2] = 0
    L, dy = cross_entropy(y, lab, w)
    ce = -np.take_along_axis(log_softmax(y, axis=-1), lab[..., None], -1)[..., 0]
    assert L == pytest.approx((w * ce).sum() / w.sum(), rel=1e-13)
    np.testing.assert_allclose(dy, _fd(lambda v: cross_entropy(v, lab, w)[0], y), atol=1e-9)
    assert not dy[1, 2].any()  # a zero weight contributes nothing
    L1, _ = cross_entropy(y, lab)
    assert L1 == pytest.approx(ce.mean(), rel=1e-13)


def test_cross_entropy_is_stable_for_huge_logits():
    y = np.array([[[1e4, -1e4, 0.0]], [[-3e3, 3e3, 3e3]]])
    L, dy = cross_entropy(y, np.array([[0], [1]]))
    assert np.isfinite(L) and np.all(np.isfinite(dy))
    assert L == pytest.approx(np.log(2) / 2, rel=1e-12)


def test_cross_entropy_float32_stays_float32():
    y = np.zeros((2, 2, 3), np.float32)
    L, dy = cross_entropy(y, np.zeros((2, 2), int))
    assert dy.dtype == np.float32 and L == pytest.approx(np.log(3), rel=1e-6)


@pytest.mark.parametrize("mask_shape", [(4, 3), (4, 3, 2)])
def test_masked_mse_value_and_gradient(mask_shape):
    rng = np.random.default_rng(1)
    y, t = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    m = rng.uniform(0, 1, mask_shape) * (rng.random(mask_shape) < 0.6)
    m.flat[0] = 1.0
    L, dy = masked_mse(y, t, m)
    mb = np.broadcast_to(m[..., None] if m.ndim == 2 else m, y.shape)
    assert L == pytest.approx((mb * (y - t) ** 2).sum() / mb.sum(), rel=1e-13)
    np.testing.assert_allclose(dy, _fd(lambda v: masked_mse(v, t, m)[0], y), atol=1e-9)


def test_loss_errors():
    y = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="0..3"):
        cross_entropy(y, np.full((2, 3), 4))
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(y, np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="positive sum"):
        cross_entropy(y, np.zeros((2, 3), int), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y must"):
        cross_entropy(np.zeros((2, 3)), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="mask"):
        masked_mse(y, y, np.ones((3, 2)))
    with pytest.raises(ValueError, match="target"):
        masked_mse(y, np.zeros((2, 3, 5)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="positive sum"):
        masked_mse(y, y, np.zeros((2, 3)))
