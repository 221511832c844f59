"""refrnn against a PyTorch model of the same equation (autograd), float64.

Given the same weights and the same noise draws: hidden states, outputs and
loss agree within 1e-10 and every gradient within relative 1e-8; 50 Adam
steps (with and without global-norm clipping) track torch.optim.Adam within
relative 1e-6. Skips cleanly where torch is not installed.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refrnn.core import optim  # noqa: E402
from refrnn.backends.plain import pattern_coordinates  # noqa: E402
from refrnn.backends.pattern_products import PatternProduct  # noqa: E402
from refrnn.verify.finite_diff import make_problem  # noqa: E402
from refrnn.core.model import RNN, ModelConfig  # noqa: E402
from refrnn.verify.parity import (  # noqa: E402
    max_errors, parity_report, perturb_params, refrnn_step, torch_loss)
from refrnn.verify.torch_twin import TorchRNN  # noqa: E402

TOL_STATE = 1e-10   # absolute, on h, y and the loss
TOL_GRAD = 1e-8     # normwise relative, on every gradient
TOL_ADAM = 1e-6     # normwise relative, on every parameter after 50 steps


def _check(report, train_h0, dense=False):
    # Which recurrent path refrnn took (CSR kernels or dense GEMM) for this config.
    assert RNN(ModelConfig(**report["config"])).W.dense is dense
    names = {"W_in", "b", "w_rec", "W_out", "b_out"} | ({"h0"} if train_h0 else set())
    assert {k[5:] for k in report if k.startswith("grad/")} == names
    for key in ("h", "y", "loss"):
        assert report[key]["max_abs"] < TOL_STATE, (key, report[key])
    for k in names:
        assert report[f"grad/{k}"]["max_rel"] < TOL_GRAD, (k, report[f"grad/{k}"])


@pytest.mark.parametrize("train_h0", [False, True])
@pytest.mark.parametrize("alpha", [1.0, 0.2])
@pytest.mark.parametrize("mask", ["locality", "random"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_forward_loss_and_gradients_match(activation, loss, mask, alpha, train_h0):
    report = parity_report(activation=activation, loss=loss, mask=mask, alpha=alpha,
                           train_h0=train_h0, sigma_rec=0.1, seed=3)
    _check(report, train_h0)


@pytest.mark.parametrize("mask,n,sparsity,dense", [
    ("ring", 36, 0.08, False), ("autapse", 12, 0.5, False),
    ("full", 12, 1.0, True), ("locality", 16, 0.25, True), ("random", 16, 0.25, True),
    ("locality", 100, 0.05, False),  # large enough for the blocked W_rec gradient
])
def test_other_masks_match(mask, n, sparsity, dense):
    report = parity_report(mask=mask, hidden=n, sparsity=sparsity, alpha=0.5,
                           activation="tanh", T=5, B=2, seed=4)
    _check(report, False, dense)


def test_threaded_split_path_matches():
    # nnz * B above refrnn's PARALLEL_MIN: the CSR products and the all-time
    # products run as two row halves, one on a helper thread.
    from refrnn.backends.threads import PARALLEL_MIN

    report = parity_report(mask="locality", hidden=1024, sparsity=0.04, T=3, B=16,
                           activation="relu", alpha=0.2, train_h0=True, seed=6)
    _check(report, True)
    assert RNN(ModelConfig(**report["config"])).mask.nnz * 16 >= PARALLEL_MIN


def test_blocked_pattern_product_is_exercised():
    # The locality case above is only a test of the blocked path if it takes it.
    model = RNN(ModelConfig(n_in=3, hidden=100, sparsity=0.05, dtype="float64"))
    pp = PatternProduct(*pattern_coordinates(model.mask), 100, np)
    assert pp.blocked


def test_parity_check_can_fail():
    # A twin with another leak or activation must be caught by the same checks.
    model = RNN(ModelConfig(n_in=4, n_out=3, hidden=16, sparsity=0.25, alpha=0.5,
                            activation="tanh", dtype="float64"), seed=1)
    perturb_params(model, 2)
    prob = make_problem(model.config, "cross_entropy", 5, 2, 3)
    x, xi = prob["x"], prob["xi"]
    y, h, value, grads = refrnn_step(model, prob, "cross_entropy")
    params = {k: np.asarray(v) for k, v in model.params.items()}
    for kwargs in ({"alpha": 0.4, "activation": "tanh"}, {"alpha": 0.5, "activation": "softplus"}):
        twin = TorchRNN(params, model.mask, sigma_rec=model.config.sigma_rec,
                        dtype=torch.float64, **kwargs)
        yt, ht = twin(x, noise=xi)
        assert max_errors(h, ht.detach().numpy())["max_abs"] > 1e-3
    # The right twin without the noise is caught too.
    twin = TorchRNN.from_refrnn(model)
    yt, ht = twin(x)
    assert max_errors(y, yt.detach().numpy())["max_abs"] > 1e-3


def _train_both(max_norm, steps=50, seed=5):
    cfg = ModelConfig(n_in=4, n_out=5, hidden=36, sparsity=0.08, alpha=0.5,
                      activation="tanh", sigma_rec=0.1, train_h0=True, dtype="float64")
    model = RNN(cfg, seed=seed)
    perturb_params(model, seed + 1, scale=0.2)
    twin = TorchRNN.from_refrnn(model, dtype=torch.float64)
    lr = 1e-2
    opt = optim.Adam(model.params, lr=lr)
    topt = torch.optim.Adam(twin.parameters(), lr=lr)
    prob = make_problem(cfg, "cross_entropy", 6, 3, seed + 2)
    noise_rng = np.random.default_rng(seed + 3)
    norms, losses = [], []
    for _ in range(steps):
        prob["xi"] = noise_rng.standard_normal((6, 3, cfg.hidden))
        _, _, value, grads = refrnn_step(model, prob, "cross_entropy")
        topt.zero_grad()
        yt, _ = twin(prob["x"], noise=prob["xi"])
        lt = torch_loss(yt, "cross_entropy", prob)
        lt.backward()
        if max_norm is not None:
            norms.append(optim.clip_grad_norm(grads, max_norm))
            tn = torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm)
            assert abs(norms[-1] - tn.item()) <= 1e-8 * tn.item()
        opt.step(model.params, grads)
        topt.step()
        losses.append((value, lt.item()))
    return model, twin, norms, np.array(losses)


@pytest.mark.parametrize("max_norm", [None, 0.15])
def test_adam_tracks_torch_adam(max_norm):
    model, twin, norms, losses = _train_both(max_norm)
    if max_norm is not None:  # clipping really acted on most steps
        assert np.mean(np.array(norms) > max_norm) > 0.5
    theirs = twin.refrnn_params()
    start = RNN(model.config, seed=5).params  # training moved the weights
    for k, v in model.params.items():
        assert max_errors(v, theirs[k])["max_rel"] < TOL_ADAM, k
        assert np.max(np.abs(v - start[k])) > 1e-3, k
    assert max_errors(losses[:, 0], losses[:, 1])["max_rel"] < TOL_ADAM
    assert losses[-5:, 0].mean() < losses[:5, 0].mean()  # it learned something
    # Entries outside the mask stay exactly zero in the dense torch twin.
    outside = (twin.W_rec.detach() * (1 - twin.M)).abs().max().item()
    assert outside == 0.0


def test_float32_twin_is_close():
    # The benchmark runs the twin in float32; it must compute the same step.
    model = RNN(ModelConfig(n_in=6, n_out=4, hidden=36, sparsity=0.2), seed=2)
    prob = make_problem(model.config, "cross_entropy", 8, 4, 1)
    prob["x"], prob["xi"] = prob["x"].astype(np.float32), prob["xi"].astype(np.float32)
    y, h, value, _ = refrnn_step(model, prob, "cross_entropy")
    twin = TorchRNN.from_refrnn(model, dtype=torch.float32)
    yt, ht = twin(prob["x"], noise=prob["xi"])
    assert max_errors(h, ht.detach().numpy())["max_rel"] < 1e-5
    assert abs(value - torch_loss(yt, "cross_entropy", prob).item()) < 1e-5


def test_bad_input_is_named():
    model = RNN(ModelConfig(n_in=2, hidden=9, sparsity=0.5), seed=0)
    with pytest.raises(ValueError, match="'hinge'"):
        make_problem(model.config, "hinge", 3, 2, 0)
    with pytest.raises(ValueError, match="'swish'"):
        TorchRNN({k: np.asarray(v) for k, v in model.params.items()}, model.mask,
                 activation="swish")
    with pytest.raises(ValueError, match="shapes differ"):
        max_errors(np.zeros(3), np.zeros(4))
