"""Central finite-difference checks of the hand-written gradients (float64).

For every parameter entry p_i the numerical derivative is
(L(p_i + eps) - L(p_i - eps)) / (2 eps), with the recurrent noise xi held
fixed. The error reported per parameter is normwise:
max_i |analytic_i - numeric_i| / max_i |analytic_i|  (its infinity-norm
relative error), which stays meaningful where single entries are near zero.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.losses import cross_entropy, masked_mse
from ..core.masks import MASK_KINDS
from ..core.model import ACTIVATIONS, RNN, ModelConfig

LOSSES = ("cross_entropy", "mse")
# relu is not differentiable at 0: differences are only trusted when every
# |u_t| exceeds KINK_MARGIN * eps (a perturbation of size eps moves u by
# about eps times an O(1) factor).
KINK_MARGIN = 100.0


def make_problem(config: ModelConfig, loss: str, T: int, B: int, seed: int, noise: bool = True):
    """Random inputs, noise draws and loss targets for a check, float64 NumPy arrays.

    Returns a dict: x (T, B, n_in), xi (T, B, N) or None without ``noise``;
    for "cross_entropy" labels (T, B) and weights (T, B) (one weight zero, as
    on padding); for "mse" target (T, B, n_out) and mask (T, B) of 0/1 weights.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    rng = np.random.default_rng(seed)
    C, N = config.n_out, config.hidden
    prob = {"x": rng.standard_normal((T, B, config.n_in)),
            "xi": rng.standard_normal((T, B, N)) if noise else None}
    if loss == "cross_entropy":
        prob["labels"] = rng.integers(0, C, size=(T, B))
        w = rng.uniform(0.5, 1.5, size=(T, B))
        w[0, 0] = 0.0  # a zero weight must drop its step from the loss
        prob["weights"] = w
    else:
        prob["target"] = rng.standard_normal((T, B, C))
        m = (rng.random((T, B)) < 0.7).astype(float)
        m[-1, :] = 1.0
        prob["mask"] = m
    return prob


def loss_and_grad(y, prob: dict, loss: str, xp=np):
    """(loss value, dL/dy) of outputs y (T, B, C) on a make_problem target."""
    if loss == "cross_entropy":
        return cross_entropy(y, prob["labels"], prob["weights"], xp=xp)
    return masked_mse(y, prob["target"], prob["mask"], xp=xp)


def _loss(model, prob, loss):
    y, record = model.forward(prob["x"], noise=prob["xi"])
    L, dy = loss_and_grad(y, prob, loss)
    return L, dy, record


def gradient_check(config: ModelConfig, loss: str = "cross_entropy", T: int = 5, B: int = 2,
                   seed: int = 0, eps: float = 1e-6, noise: bool = True, param_scale: float = 1.0,
                   bias_scale: float = 0.3) -> dict:
    """Compare backward() with central differences for every parameter entry.

    The model is built in float64 from ``config`` (seed ``seed``); biases
    (and h0 when trained) get N(0, bias_scale^2) values so their gradients
    are exercised away from zero; w_rec is multiplied by ``param_scale``.
    Returns {"errors": {name: normwise relative error}, "max_error",
    "loss_value", "min_abs_u", "kink_safe"}; min_abs_u is the smallest |u_t|
    seen; kink_safe is False for relu when it is below KINK_MARGIN * eps, where
    the differences may straddle the kink and say nothing.
    """
    cfg = replace(config, dtype="float64")
    model = RNN(cfg, backend="cpu", seed=seed)
    rng = np.random.default_rng(seed + 1)
    for k in ("b", "b_out", "h0"):
        if k in model.params:
            model.params[k][:] = bias_scale * rng.standard_normal(model.params[k].shape)
    model.params["w_rec"] *= param_scale
    prob = make_problem(cfg, loss, T, B, seed + 2, noise)
    L0, dy, record = _loss(model, prob, loss)
    grads = model.backward(record, dy)
    errors = {}
    for name, p in model.params.items():
        flat = p.reshape(-1)
        num = np.empty(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            lp = _loss(model, prob, loss)[0]
            flat[i] = old - eps
            lm = _loss(model, prob, loss)[0]
            flat[i] = old
            num[i] = (lp - lm) / (2 * eps)
        ana = np.asarray(grads[name]).reshape(-1)
        scale = max(np.abs(ana).max(), np.abs(num).max(), 1e-300)
        errors[name] = float(np.abs(ana - num).max() / scale)
    min_u = float(np.abs(record.u).min())
    return {"errors": errors, "max_error": max(errors.values()), "loss_value": L0,
            "min_abs_u": min_u,
            "kink_safe": cfg.activation != "relu" or min_u > KINK_MARGIN * eps}


def check_all(hidden: int = 36, n_in: int = 3, n_out: int = 4, T: int = 5, B: int = 2,
              masks=MASK_KINDS, activations=ACTIVATIONS, losses=LOSSES, alphas=(1.0, 0.2),
              sparsity: float = 0.08, seed: int = 3):
    """gradient_check over the grid masks x activations x losses x alphas.

    Yields one dict per case: mask, activation, loss, alpha, max_error,
    errors, loss_value, min_abs_u. Cases train h0 and use noise
    (sigma_rec 0.1). The defaults (N = 36, a 6 x 6 sheet, k = 3) keep the
    sparse masks below the dense threshold, so the sparse path is checked.
    The default seed keeps every relu case kink_safe with the unscaled
    N(0, 1/k) start (init_radius 0), which the cases use: the gradient does
    not depend on how the weights were drawn, and at the default radius 1.0
    one relu case (locality, alpha 1) has a pre-activation 6e-5 from the kink.
    """
    for mask in masks:
        for act in activations:
            for loss in losses:
                for alpha in alphas:
                    cfg = ModelConfig(n_in=n_in, n_out=n_out, hidden=hidden, activation=act,
                                      alpha=alpha, sigma_rec=0.1, mask=mask, sparsity=sparsity,
                                      train_h0=True, init_radius=0.0)
                    r = gradient_check(cfg, loss, T=T, B=B, seed=seed)
                    yield {"mask": mask, "activation": act, "loss": loss, "alpha": alpha, **r}
