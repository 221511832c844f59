"""The one PyTorch twin of the network, for verification, benchmarks and export.

torch is imported only inside functions: the classes :class:`TorchRNN` and
:class:`MaskedRNN` are made on first access (``from refrnn.verify.torch_twin
import TorchRNN`` needs torch; importing the module does not). The twin
computes exactly

    u_t = W_in x_t + b + (W_rec * M) h_{t-1} + sqrt(2/alpha) * sigma_rec * xi_t
    h_t = (1 - alpha) h_{t-1} + alpha * f(u_t)
    y_t = W_out h_t + b_out

with a *dense* (N, N) W_rec multiplied by the dense 0/1 mask M, and lets
autograd find the gradients. Parameters are loaded from a refrnn model and
gradients are handed back in refrnn's naming, the W_rec gradient read at the
mask's pattern only (CSR order), so the two can be compared entry by entry.
:class:`MaskedRNN` is the same module built from an exported state dict
(:mod:`refrnn.verify.export`; noise off, ``forward(x)`` returns y alone),
whose own ``state_dict()`` has the export's keys, so it goes back into refrnn.
"""
from __future__ import annotations

import json
import math

import numpy as np
import scipy.sparse as sp

from ..core.model import ACTIVATIONS, DTYPES

_CLASSES = {}  # "TorchRNN", "MaskedRNN": made by _make_classes on first access


def softplus(u):
    """log(1 + e^u) for a tensor, the one softplus of the twin.

    Threshold-free and stable: torch's F.softplus switches to the identity
    above u = 20, which differs from log(1 + e^u) by ~2e-9 there.
    """
    import torch

    return torch.clamp(u, min=0) + torch.log1p(torch.exp(-torch.abs(u)))


def activation_fn(name: str):
    """The torch function of refrnn's activation ``name`` (relu, tanh, softplus)."""
    import torch

    fns = {"relu": torch.relu, "tanh": torch.tanh, "softplus": softplus}
    if name not in fns:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return fns[name]


def torch_dtype(dtype):
    """The torch float dtype of a torch or NumPy dtype (float32 or float64 only)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return getattr(torch, name)


def __getattr__(name):  # the torch classes, made when first asked for
    if name in ("TorchRNN", "MaskedRNN"):
        if not _CLASSES:
            _make_classes()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_classes():
    """Define TorchRNN and MaskedRNN (torch.nn.Module subclasses) into _CLASSES."""
    import torch

    class TorchRNN(torch.nn.Module):
        """Dense masked leaky RNN with autograd gradients.

        Args:
            params: dict name -> NumPy array in refrnn's naming: W_in (N, n_in),
                b (N,), w_rec (nnz,) in the mask's CSR order, W_out (n_out, N),
                b_out (n_out,), optionally h0 (N,) (then h0 is trained).
            mask: scipy.sparse CSR (N, N) pattern, rows = receiving neuron.
            activation: "relu", "tanh" or "softplus".
            alpha: leak dt/tau in (0, 1].
            sigma_rec: recurrent noise standard deviation.
            dtype: torch or NumPy float dtype (float64 for verification).
        """

        def __init__(self, params, mask, *, activation="relu", alpha=1.0,
                     sigma_rec=0.05, dtype=torch.float64):
            super().__init__()
            self.f = activation_fn(activation)
            if not (0.0 < float(alpha) <= 1.0):
                raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
            dt = torch_dtype(dtype)
            mask = mask.tocsr()
            n = mask.shape[0]
            coo = mask.tocoo()
            # CSR order == row-major order of (row, col) when indices are sorted.
            order = np.lexsort((coo.col, coo.row))
            # not in state_dict(): MaskedRNN's state dict holds the export's keys only
            self.register_buffer("rows", torch.as_tensor(coo.row[order], dtype=torch.long),
                                 persistent=False)
            self.register_buffer("cols", torch.as_tensor(coo.col[order], dtype=torch.long),
                                 persistent=False)
            M = torch.zeros((n, n), dtype=dt)
            M[self.rows, self.cols] = 1.0
            self.register_buffer("M", M, persistent=False)
            csr_sorted = mask.copy()
            csr_sorted.sort_indices()
            if not (np.array_equal(csr_sorted.indices, coo.col[order])
                    and np.array_equal(mask.indices, csr_sorted.indices)):
                raise ValueError("mask must be CSR with sorted indices and no duplicates")

            def p(name):
                t = torch.as_tensor(np.asarray(params[name]), dtype=dt)
                return torch.nn.Parameter(t.clone())

            self.W_in, self.b = p("W_in"), p("b")
            self.W_out, self.b_out = p("W_out"), p("b_out")
            W = torch.zeros((n, n), dtype=dt)
            W[self.rows, self.cols] = torch.as_tensor(np.asarray(params["w_rec"]), dtype=dt)
            self.W_rec = torch.nn.Parameter(W)
            self.h0 = p("h0") if "h0" in params else None
            self.activation = activation
            self.alpha = float(alpha)
            self.noise_scale = math.sqrt(2.0 / self.alpha) * float(sigma_rec)

        @classmethod
        def from_refrnn(cls, model, dtype=torch.float64) -> "TorchRNN":
            """The twin of a refrnn ``RNN`` (its current parameters, copied)."""
            cfg = model.config
            to_np = getattr(getattr(model, "backend", None), "to_numpy", np.asarray)
            params = {k: to_np(v) for k, v in model.params.items()}
            return cls(params, model.mask, activation=cfg.activation, alpha=cfg.alpha,
                       sigma_rec=cfg.sigma_rec, dtype=dtype)

        def named_refrnn_params(self):
            """(refrnn name, torch Parameter) pairs, in refrnn's key order."""
            out = [("W_in", self.W_in), ("b", self.b), ("w_rec", self.W_rec),
                   ("W_out", self.W_out), ("b_out", self.b_out)]
            if self.h0 is not None:
                out.append(("h0", self.h0))
            return out

        def forward(self, x, noise=None, generator=None):
            """Run the recurrence over all T steps.

            Args:
                x: (T, B, n_in) array or tensor.
                noise: optional (T, B, N) standard-normal draws xi (scaled here by
                    sqrt(2/alpha) * sigma_rec). Without it, ``generator`` (a
                    torch.Generator) draws them; with neither there is no noise.
            Returns:
                y (T, B, n_out) and h (T, B, N) tensors.
            """
            dev = self.W_in.device
            x = torch.as_tensor(x, dtype=self.W_in.dtype, device=dev)
            T, B, _ = x.shape
            n = self.W_rec.shape[0]
            f = self.f
            W = self.W_rec * self.M
            drive = x @ self.W_in.T + self.b  # (T, B, N): the time-parallel part
            if noise is None and generator is not None:
                noise = torch.randn((T, B, n), generator=generator, dtype=drive.dtype, device=dev)
            if noise is not None and self.noise_scale != 0.0:
                drive = drive + self.noise_scale * torch.as_tensor(noise, dtype=drive.dtype,
                                                                   device=dev)
            if self.h0 is None:
                h = torch.zeros((B, n), dtype=drive.dtype, device=dev)
            else:
                h = self.h0.expand(B, n)
            hs = []
            # unbind, not drive[t]: the backward of drive[t] builds a zero (T, B, N)
            # tensor per step (T^2 B N memory traffic); unbind's backward stacks once.
            for d_t in drive.unbind(0):
                r = f(d_t + h @ W.T)
                h = r if self.alpha == 1.0 else (1.0 - self.alpha) * h + self.alpha * r
                hs.append(h)
            H = torch.stack(hs)
            return H @ self.W_out.T + self.b_out, H

        def refrnn_grads(self) -> dict:
            """Autograd gradients as NumPy arrays in refrnn's naming.

            w_rec: (nnz,) the dense gradient read at the pattern, CSR order.
            """
            out = {}
            for name, prm in self.named_refrnn_params():
                g = prm.grad
                if g is None:
                    g = torch.zeros_like(prm)
                if name == "w_rec":
                    g = g[self.rows, self.cols]
                out[name] = g.detach().cpu().numpy().copy()
            return out

        def refrnn_params(self) -> dict:
            """Current parameters as NumPy arrays in refrnn's naming."""
            out = {}
            for name, prm in self.named_refrnn_params():
                v = prm.detach()
                if name == "w_rec":
                    v = v[self.rows, self.cols]
                out[name] = v.cpu().numpy().copy()
            return out

    class MaskedRNN(TorchRNN):
        """The twin built from an exported state dict, noise off (docs/verify.md).

            u_t = W_in x_t + b + (W_rec * mask) h_{t-1},   h_{-1} = h0
            h_t = (1 - alpha) h_{t-1} + alpha * f(u_t)
            y_t = W_out h_t + b_out

        ``sd``: the export's tensors (refrnn.verify.export: W_in, b, W_rec (N, N)
        dense, mask (N, N) 0/1, W_out, b_out, h0, refrnn_settings). ``forward(x)``
        takes x (T, B, n_in) and returns y (T, B, n_out). The mask multiply keeps
        entries outside the pattern, and their gradients, at zero; ``state_dict()``
        has exactly the export's keys.
        """

        def __init__(self, sd):
            s = json.loads(bytes(sd["refrnn_settings"].tolist()))["model"]
            M = sd["mask"].detach().cpu().numpy()
            pattern = sp.csr_matrix(M != 0)
            pattern.sort_indices()
            W = sd["W_rec"].detach().cpu().numpy()
            params = {k: sd[k].detach().cpu().numpy()
                      for k in ("W_in", "b", "W_out", "b_out", "h0")}
            params["w_rec"] = W[M != 0]  # row-major = CSR order
            super().__init__(params, pattern, activation=s["activation"], alpha=s["alpha"],
                             sigma_rec=0.0, dtype=sd["W_rec"].dtype)
            self.register_buffer("mask", self.M)
            self.register_buffer("refrnn_settings", sd["refrnn_settings"].clone())

        def forward(self, x):
            return super().forward(x)[0]

    _CLASSES.update(TorchRNN=TorchRNN, MaskedRNN=MaskedRNN)


def cross_entropy(y, labels, weights=None):
    """sum(w * CE) / sum(w) over (T, B); y (T, B, C) tensor, labels (T, B) int."""
    import torch

    labels = torch.as_tensor(labels, dtype=torch.long, device=y.device)
    logp = torch.log_softmax(y, dim=-1)
    ce = -torch.gather(logp, -1, labels[..., None])[..., 0]
    if weights is None:
        return ce.mean()
    w = torch.as_tensor(weights, dtype=y.dtype, device=y.device)
    return (w * ce).sum() / w.sum()


def masked_mse(y, target, mask):
    """sum(mask * (y - target)^2) / sum(mask); mask (T, B) or (T, B, C).

    The normalisation must match refrnn.core.losses.masked_mse; the parity tests
    check that it does.
    """
    import torch

    target = torch.as_tensor(target, dtype=y.dtype, device=y.device)
    m = torch.as_tensor(mask, dtype=y.dtype, device=y.device)
    if m.dim() == y.dim() - 1:
        m = m[..., None].expand_as(y)
    return (m * (y - target) ** 2).sum() / m.sum()
