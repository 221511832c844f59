"""The PyTorch side of ``refrnn export`` / ``refrnn import``.

Imports torch, so only the CLI's export and import commands and user code
import this module (the refrnn core never does). A ``.pt`` file is a plain
state dict of tensors (keys in :mod:`refrnn.verify.export`), written with
``torch.save`` and read with ``torch.load(..., weights_only=True)``;
:class:`MaskedRNN` is a PyTorch module of refrnn's equation built from it,
and its own ``state_dict()`` has the same keys, so it goes back into refrnn.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..files.atomic import atomic_output
from .export import export_arrays


class MaskedRNN(torch.nn.Module):
    """refrnn's network in PyTorch, noise off (docs/verify.md shows it whole).

        u_t = W_in x_t + b + (W_rec * mask) h_{t-1},   h_{-1} = h0
        h_t = (1 - alpha) h_{t-1} + alpha * f(u_t)
        y_t = W_out h_t + b_out

    Built from an exported state dict (tensors); ``forward(x)`` takes x of
    shape (T, B, n_in) and returns y (T, B, n_out). The mask multiply keeps
    entries outside the pattern at zero and their gradients at zero.
    """

    def __init__(self, sd):
        super().__init__()
        s = json.loads(bytes(sd["refrnn_settings"].tolist()))["model"]
        self.alpha = s["alpha"]
        self.f = {"relu": torch.relu, "tanh": torch.tanh,
                  "softplus": torch.nn.functional.softplus}[s["activation"]]
        for k in ("W_in", "b", "W_rec", "W_out", "b_out", "h0"):
            self.register_parameter(k, torch.nn.Parameter(sd[k].clone()))
        self.register_buffer("mask", sd["mask"].clone())
        self.register_buffer("refrnn_settings", sd["refrnn_settings"].clone())

    def forward(self, x):
        W = self.W_rec * self.mask
        h = self.h0.expand(x.shape[1], -1)
        ys = []
        for x_t in x:
            h = (1 - self.alpha) * h + self.alpha * self.f(x_t @ self.W_in.T + self.b + h @ W.T)
            ys.append(h @ self.W_out.T + self.b_out)
        return torch.stack(ys)


def run_state_dict(run_dir, checkpoint: str = "last") -> dict:
    """The run's exported arrays (:func:`refrnn.verify.export.export_arrays`) as tensors."""
    return {k: torch.from_numpy(v) for k, v in export_arrays(run_dir, checkpoint).items()}


def save_state_dict(sd: dict, path) -> Path:
    """``torch.save`` a dict of tensors to ``path`` atomically."""
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"state dict entries {bad} are not tensors")
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(sd, f)
    return path


def load_state_dict(path) -> dict:
    """Read a state dict file with ``weights_only=True``; dict of NumPy arrays.

    ValueError when the file is not a torch file or holds anything but a flat
    dict of tensors (e.g. a whole pickled module).
    """
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise ValueError(f"{str(path)!r} is not a torch state dict readable with "
                         f"weights_only=True ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{str(path)!r} must hold a flat dict of tensors (a state dict)")
    out = {}
    for k, v in sd.items():
        v = v.detach().cpu()
        out[str(k)] = v.numpy().copy()
    return out
