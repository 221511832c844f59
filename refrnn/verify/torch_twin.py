"""A PyTorch twin of the one equation, for verification and benchmarks.

Only imported where torch is wanted (tests, ``refrnn verify``, benchmarks);
the refrnn core never imports this module. The twin computes exactly

    u_t = W_in x_t + b + (W_rec * M) h_{t-1} + sqrt(2/alpha) * sigma_rec * xi_t
    h_t = (1 - alpha) h_{t-1} + alpha * f(u_t)
    y_t = W_out h_t + b_out

with a *dense* (N, N) W_rec multiplied by the dense 0/1 mask M, and lets
autograd find the gradients. Parameters are loaded from a refrnn model and
gradients are handed back in refrnn's naming, the W_rec gradient read at the
mask's pattern only (CSR order), so the two can be compared entry by entry.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..core.model import ACTIVATIONS, DTYPES

PARAM_ORDER = ("W_in", "b", "w_rec", "W_out", "b_out", "h0")


def _softplus(u):
    # Threshold-free and stable: torch's F.softplus switches to the identity
    # above u = 20, which differs from log(1 + e^u) by ~2e-9 there.
    return torch.clamp(u, min=0) + torch.log1p(torch.exp(-torch.abs(u)))


_F = {"relu": torch.relu, "tanh": torch.tanh, "softplus": _softplus}


def _torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return getattr(torch, name)


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
        if activation not in _F:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if not (0.0 < float(alpha) <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        dt = _torch_dtype(dtype)
        mask = mask.tocsr()
        n = mask.shape[0]
        coo = mask.tocoo()
        # CSR order == row-major order of (row, col) when indices are sorted.
        order = np.lexsort((coo.col, coo.row))
        self.register_buffer("rows", torch.as_tensor(coo.row[order], dtype=torch.long))
        self.register_buffer("cols", torch.as_tensor(coo.col[order], dtype=torch.long))
        M = torch.zeros((n, n), dtype=dt)
        M[self.rows, self.cols] = 1.0
        self.register_buffer("M", M)
        csr_sorted = mask.copy()
        csr_sorted.sort_indices()
        if not (np.array_equal(csr_sorted.indices, coo.col[order])
                and np.array_equal(mask.indices, csr_sorted.indices)):
            raise ValueError("mask must be CSR with sorted indices and no duplicates")

        def p(name):
            return torch.nn.Parameter(torch.as_tensor(np.asarray(params[name]), dtype=dt).clone())

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
        f = _F[self.activation]
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


def cross_entropy(y, labels, weights=None):
    """sum(w * CE) / sum(w) over (T, B); y (T, B, C), labels (T, B) int."""
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
    target = torch.as_tensor(target, dtype=y.dtype, device=y.device)
    m = torch.as_tensor(mask, dtype=y.dtype, device=y.device)
    if m.dim() == y.dim() - 1:
        m = m[..., None].expand_as(y)
    return (m * (y - target) ** 2).sum() / m.sum()


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
    from refrnn.verify.finite_diff import loss_and_grad

    y, record = model.forward(prob["x"], noise=prob["xi"])
    value, dy = loss_and_grad(y, prob, loss, xp=model.backend.xp)
    grads = model.backward(record, dy)
    return y, record.hidden(), value, grads


def torch_loss(y, loss: str, prob: dict):
    """The twin's loss tensor for the same ``make_problem`` targets."""
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
            n_hidden 36, sparsity 0.08: below refrnn's dense-path density, so
            sparse masks run the CSR kernels); dtype is forced to float64.
    Returns:
        dict: "h", "y", "loss", "grad/<name>" for each parameter -> {"max_abs",
        "max_rel"} (see max_errors); and "config" (the ModelConfig as a dict).
    """
    from refrnn.verify.finite_diff import make_problem
    from refrnn.core.model import RNN, ModelConfig

    if threads is not None:
        torch.set_num_threads(int(threads))
    cfg = {"n_in": 5, "n_out": 4, "n_hidden": 36, "sparsity": 0.08, **config,
           "dtype": "float64"}
    model = RNN(ModelConfig(**cfg), seed=seed)
    perturb_params(model, seed + 1)
    prob = make_problem(model.config, loss, T, B, seed + 2)
    y, h, value, grads = refrnn_step(model, prob, loss)
    twin = TorchRNN.from_refrnn(model, dtype=torch.float64)
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
