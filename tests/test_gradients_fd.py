"""Hand-written BPTT against central finite differences (float64).

Every parameter, each mask kind, each activation, both losses, alpha 1 and
0.2, trained h0, recurrent noise on (fixed draws): max relative error < 1e-6.
N = 36 (a 6 x 6 sheet) at sparsity 0.08 keeps the sparse masks on the sparse
code path; the full mask takes the dense path.
"""
import numpy as np
import pytest

from refrnn.verify import finite_diff as gradcheck
from refrnn.verify.finite_diff import LOSSES, gradient_check
from refrnn.core.masks import MASK_KINDS
from refrnn.core.model import ACTIVATIONS, RNN, ModelConfig

TOL = 1e-6


@pytest.mark.parametrize("alpha", [1.0, 0.2])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("mask", MASK_KINDS)
def test_fd_every_parameter(mask, activation, loss, alpha):
    (r,) = gradcheck.check_all(masks=(mask,), activations=(activation,), losses=(loss,),
                               alphas=(alpha,), T=5, B=2)
    assert set(r["errors"]) == {"W_in", "b", "w_rec", "W_out", "b_out", "h0"}
    assert r["kink_safe"], r["min_abs_u"]  # else the differences are meaningless for relu
    assert r["max_error"] < TOL, r["errors"]


def test_fd_without_h0_and_without_noise():
    cfg = ModelConfig(n_in=2, n_out=3, hidden=16, activation="tanh", alpha=0.5,
                      mask="ring", sparsity=0.1875, sigma_rec=0.1)
    r = gradient_check(cfg, "cross_entropy", T=4, B=3, seed=5, noise=False)
    assert set(r["errors"]) == {"W_in", "b", "w_rec", "W_out", "b_out"}
    assert r["max_error"] < TOL


def test_check_detects_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: a 0.1% error in one gradient is caught."""
    from refrnn.core import engine

    real = engine.backward

    def off(model, cache, dy):
        g = real(model, cache, dy)
        g["w_rec"] = g["w_rec"] * 1.001
        return g

    monkeypatch.setattr(engine, "backward", off)
    cfg = ModelConfig(n_in=2, n_out=3, hidden=16, activation="tanh", mask="full")
    r = gradient_check(cfg, "mse", T=4, B=2)
    assert r["errors"]["w_rec"] > 1e-4 and r["errors"]["W_in"] < TOL


def test_float32_gradients_follow_float64():
    """float32 backward agrees with float64 on the same weights (to float32 accuracy)."""
    from refrnn.core.losses import cross_entropy

    out = {}
    for dt in ("float32", "float64"):
        cfg = ModelConfig(n_in=5, n_out=4, hidden=64, activation="tanh", sparsity=0.1,
                          dtype=dt, sigma_rec=0.1)
        m = RNN(cfg, seed=1)
        rng = np.random.default_rng(2)
        x, xi = rng.standard_normal((8, 3, 5)), rng.standard_normal((8, 3, 64))
        y, c = m.forward(x, noise=xi)
        L, dy = cross_entropy(y, rng.integers(0, 4, (8, 3)))
        out[dt] = m.backward(c, dy)
    for k in out["float64"]:
        a, b = out["float32"][k].astype(np.float64), out["float64"][k]
        assert out["float32"][k].dtype == np.float32
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), k


def test_cli_verify_quick():
    from click.testing import CliRunner

    from refrnn_cli.verify_cmd import verify

    r = CliRunner().invoke(verify, ["--quick", "--no-torch"])
    assert r.exit_code == 0, r.output
    assert "0 failed" in r.output
    assert sum(line.endswith(" ok") for line in r.output.splitlines()) == len(MASK_KINDS)
