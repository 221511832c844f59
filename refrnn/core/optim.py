"""Adam and global-norm gradient clipping, written out by hand.

Both follow torch.optim.Adam (defaults: no weight decay, no amsgrad) and
torch.nn.utils.clip_grad_norm_ operation for operation, so float64 runs
track PyTorch to rounding.
"""
from __future__ import annotations

import math

import numpy as np


class Adam:
    """Adam with bias correction.

    Args:
        params: dict name -> array (used for the moment shapes only).
        lr: step size; betas: (beta1, beta2) in [0, 1); eps: > 0.
        xp: the array module of the parameters (``Backend.xp``; NumPy by default).

    Per parameter p with gradient g, at step count s (1, 2, ...):
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^s) * m / (sqrt(v) / sqrt(1 - beta2^s) + eps)
    """

    def __init__(self, params: dict, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 xp=np):
        lr, eps = float(lr), float(eps)
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.lr, self.betas, self.eps = lr, (float(betas[0]), float(betas[1])), eps
        self.step_count, self.xp = 0, xp
        self.m = {k: xp.zeros_like(v) for k, v in params.items()}
        self.v = {k: xp.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        """Update every array of ``params`` in place from ``grads`` (same keys)."""
        if set(grads) != set(self.m):
            raise ValueError(f"grads keys {sorted(grads)} differ from {sorted(self.m)}")
        b1, b2 = self.betas
        self.step_count += 1
        s = self.step_count
        step_size = self.lr / (1.0 - b1 ** s)
        bc2_sqrt = math.sqrt(1.0 - b2 ** s)
        for k, g in grads.items():
            m, v, p = self.m[k], self.v[k], params[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = self.xp.sqrt(v)
            denom /= bc2_sqrt
            denom += self.eps
            p -= step_size * (m / denom)

    def state_dict(self) -> dict:
        """{"step", "lr", "betas", "eps", "m": {name: array}, "v": {...}} (copies)."""
        return {
            "step": self.step_count, "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
            "m": {k: a.copy() for k, a in self.m.items()},
            "v": {k: a.copy() for k, a in self.v.items()},
        }

    def load_state_dict(self, d: dict) -> None:
        """Restore what state_dict returned; shapes must match the parameters."""
        for part in ("m", "v"):
            if set(d[part]) != set(self.m):
                raise ValueError(
                    f"state {part} keys {sorted(d[part])} differ from {sorted(self.m)}")
            for k, a in d[part].items():
                if tuple(a.shape) != tuple(self.m[k].shape):
                    raise ValueError(f"state {part}[{k!r}] has shape {tuple(a.shape)}, "
                                     f"expected {tuple(self.m[k].shape)}")
        step = int(d["step"])
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step!r}")
        self.step_count = step
        self.lr, self.eps = float(d.get("lr", self.lr)), float(d.get("eps", self.eps))
        self.betas = tuple(float(b) for b in d.get("betas", self.betas))
        xp = self.xp
        for k in self.m:
            self.m[k] = xp.asarray(d["m"][k], dtype=self.m[k].dtype).copy()
            self.v[k] = xp.asarray(d["v"][k], dtype=self.v[k].dtype).copy()


def grad_norm(grads: dict) -> float:
    """Global L2 norm of all gradients (a host float)."""
    return math.sqrt(sum(float((g * g).sum()) for g in grads.values()))


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm.

    Returns the norm before clipping. As in PyTorch, the scale factor is
    max_norm / (norm + 1e-6), applied only when it is below 1.
    """
    max_norm = float(max_norm)
    if not (max_norm > 0 and math.isfinite(max_norm)):
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
    total = grad_norm(grads)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total
