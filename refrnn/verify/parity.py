"""refrnn against its PyTorch twin on one small float64 problem (``refrnn verify``).

:func:`parity_report` runs refrnn's forward and BPTT and the twin's autograd
(:mod:`refrnn.verify.torch_twin`) on the same weights, inputs, noise and
targets, and gives the largest differences (:func:`max_errors`) of the
states, outputs, loss and every gradient. torch is imported only inside the
functions that run the twin.
"""
from __future__ import annotations

import numpy as np

from .finite_diff import loss_and_grad, make_problem
from . import torch_twin
from .torch_twin import cross_entropy, masked_mse
from ..core.model import RNN, ModelConfig


def max_errors(ours, ref) -> dict:
    """max_abs = max |ours - ref|; max_rel = max_abs / max |ref| (normwise).

    The normwise relative error stays meaningful where single entries of
    the reference are zero (relu units that never fire, untouched outputs).
    """
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        raise ValueError(f"shapes differ: {ours.shape} versus {ref.shape}")
    abs_err = float(np.max(np.abs(ours - ref))) if ours.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return {"max_abs": abs_err, "max_rel": abs_err / scale if scale > 0 else abs_err}


def perturb_params(model, seed: int, scale: float = 0.5) -> None:
    """Add N(0, scale^2) to every parameter in place (biases, h0 nonzero too).

    w_rec gets a relative perturbation so the recurrence keeps its size.
    """
    rng = np.random.default_rng(seed)
    xp = model.backend.xp
    for k, v in model.params.items():
        host = model.backend.to_numpy(v)
        if k == "w_rec":
            d = host * (1.0 + scale * rng.standard_normal(host.shape))
        else:
            d = host + scale * rng.standard_normal(host.shape)
        v[...] = xp.asarray(d, dtype=v.dtype)


def refrnn_step(model, prob: dict, loss: str):
    """refrnn forward + loss + backward on a ``gradcheck.make_problem`` dict:
    (y, h (T, B, N), loss, grads)."""
    y, record = model.forward(prob["x"], noise=prob["xi"])
    value, dy = loss_and_grad(y, prob, loss, xp=model.backend.xp)
    grads = model.backward(record, dy)
    return y, record.hidden(), value, grads


def torch_loss(y, loss: str, prob: dict):
    """The twin's loss tensor for the same ``make_problem`` targets (torch tensors)."""
    if loss == "cross_entropy":
        return cross_entropy(y, prob["labels"], prob["weights"])
    return masked_mse(y, prob["target"], prob["mask"])


def parity_report(*, T: int = 6, B: int = 3, loss: str = "cross_entropy",
                  seed: int = 0, threads: int | None = None, **config) -> dict:
    """Compare refrnn with its PyTorch twin on one small problem, in float64.

    Args:
        T, B: sequence length and batch size.
        loss: "cross_entropy" or "mse".
        seed: seeds the weights (perturbed away from the initialisation so
            biases and h0 are nonzero), inputs, noise and targets.
        threads: torch.set_num_threads(threads) when given.
        **config: ModelConfig fields (n_in defaults to 5, n_out 4,
            hidden 36, sparsity 0.08: below refrnn's dense-path density, so
            sparse masks run the CSR kernels); dtype is forced to float64.
    Returns:
        dict: "h", "y", "loss", "grad/<name>" for each parameter -> {"max_abs",
        "max_rel"} (see max_errors); and "config" (the ModelConfig as a dict).
    """
    import torch

    if threads is not None:
        torch.set_num_threads(int(threads))
    cfg = {"n_in": 5, "n_out": 4, "hidden": 36, "sparsity": 0.08, **config,
           "dtype": "float64"}
    model = RNN(ModelConfig(**cfg), seed=seed)
    perturb_params(model, seed + 1)
    prob = make_problem(model.config, loss, T, B, seed + 2)
    y, h, value, grads = refrnn_step(model, prob, loss)
    twin = torch_twin.TorchRNN.from_refrnn(model, dtype=torch.float64)
    yt, ht = twin(prob["x"], noise=prob["xi"])
    lt = torch_loss(yt, loss, prob)
    lt.backward()
    tg = twin.refrnn_grads()
    to_np = model.backend.to_numpy
    report = {"config": model.config.to_dict(),
              "h": max_errors(to_np(h), ht.detach().numpy()),
              "y": max_errors(to_np(y), yt.detach().numpy()),
              "loss": max_errors(value, lt.item())}
    for k in model.params:
        report[f"grad/{k}"] = max_errors(to_np(grads[k]), tg[k])
    return report
