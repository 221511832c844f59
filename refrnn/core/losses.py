"""Losses and their gradients with respect to the outputs.

Each function returns (loss, dy): loss a Python float, dy an array shaped
like y (dL/dy). ``xp`` is the array module of ``y`` (``Backend.xp``: NumPy by
default, CuPy for arrays on the GPU); this module never chooses it.
"""
from __future__ import annotations

import numpy as np


def cross_entropy(y, labels, weights=None, xp=np):
    """Weighted mean cross-entropy over the classes at every step.

    Args:
        y: (T, B, C) logits.
        labels: (T, B) integer classes in 0..C-1.
        weights: (T, B) non-negative per-step weights (default all ones).
        xp: the array module of ``y``.
    Returns:
        loss = sum(w * CE) / sum(w) over (T, B), and dy (T, B, C) =
        w * (softmax(y) - onehot(labels)) / sum(w).
    """
    if y.ndim != 3:
        raise ValueError(f"y must have shape (T, B, C), got {tuple(y.shape)}")
    T, B, C = y.shape
    labels = xp.asarray(labels)
    if labels.shape != (T, B):
        raise ValueError(f"labels must have shape {(T, B)}, got {tuple(labels.shape)}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= C):
        raise ValueError(f"labels must lie in 0..{C - 1}, got range "
                         f"{int(labels.min())}..{int(labels.max())}")
    if weights is None:
        w = xp.ones((T, B), dtype=y.dtype)
    else:
        w = xp.asarray(weights, dtype=y.dtype)
        if w.shape != (T, B):
            raise ValueError(f"weights must have shape {(T, B)}, got {tuple(w.shape)}")
    wsum = float(w.sum())
    if not wsum > 0:
        raise ValueError(f"weights must have a positive sum, got {wsum!r}")
    # Stable log-softmax: shift by the max, then subtract log-sum-exp.
    z = y - y.max(axis=-1, keepdims=True)
    e = xp.exp(z)
    s = e.sum(axis=-1, keepdims=True)
    logp_true = xp.take_along_axis(z, labels[..., None], axis=-1)[..., 0] - xp.log(s[..., 0])
    loss = -float((w * logp_true).sum()) / wsum
    dy = e / s                                        # softmax
    dy -= xp.arange(C) == labels[..., None]           # minus the one-hot
    dy *= (w / wsum)[..., None]
    return loss, dy


def masked_mse(y, target, mask, xp=np):
    """Mean squared error over the entries the cost mask selects.

    Args:
        y, target: (T, B, C).
        mask: (T, B) or (T, B, C) non-negative cost weights (broadcast over C).
        xp: the array module of ``y``.
    Returns:
        loss = sum(m * (y - target)^2) / sum(m) with m broadcast to (T, B, C),
        and dy = 2 m (y - target) / sum(m).
    """
    target = xp.asarray(target, dtype=y.dtype)
    if target.shape != y.shape:
        raise ValueError(f"target must have shape {tuple(y.shape)}, got {tuple(target.shape)}")
    m = xp.asarray(mask, dtype=y.dtype)
    if m.shape == y.shape[:-1]:
        m = m[..., None]
    elif m.shape != y.shape:
        raise ValueError(f"mask must have shape {tuple(y.shape[:-1])} or "
                         f"{tuple(y.shape)}, got {tuple(m.shape)}")
    m = xp.broadcast_to(m, y.shape)
    msum = float(m.sum())
    if not msum > 0:
        raise ValueError(f"mask must have a positive sum, got {msum!r}")
    r = y - target
    loss = float((m * r * r).sum()) / msum
    dy = (2.0 / msum) * m * r
    return loss, dy
