"""The activation f of the one equation and its derivative f', for any array module.

Each function writes into ``out`` (same shape as ``u``) when given; ``xp`` is
numpy or cupy (the backend's).
"""
from __future__ import annotations

ACTIVATIONS = ("relu", "tanh", "softplus")
_ZEROS = {}  # (module, shape, dtype) -> a zero array, read only


def _zeros_like(xp, u):
    """A cached zero array of u's shape and dtype. NumPy's maximum against a
    full array is about five times faster than against the scalar 0 (NumPy
    2.4, float32, (N, B) operands), and relu runs once per step."""
    key = (xp.__name__, u.shape, u.dtype.str)
    z = _ZEROS.get(key)
    if z is None:
        if len(_ZEROS) > 32:
            _ZEROS.clear()
        z = _ZEROS[key] = xp.zeros(u.shape, dtype=u.dtype)
    return z


def apply(name: str, xp, u, out=None):
    """f(u): relu max(u, 0), tanh, softplus log(1 + e^u).

    softplus is written max(u, 0) + log1p(e^-|u|) (no overflow): NumPy runs
    exp and log1p vectorised, and logaddexp(0, u) was about 6 times slower
    (float32, (N, B) operands).
    """
    if name == "relu":
        return xp.maximum(u, _zeros_like(xp, u), out=out)
    if name == "tanh":
        return xp.tanh(u, out=out)
    if out is None:
        out = xp.empty_like(u)
    elif xp.may_share_memory(u, out):  # u is read again below: work on a copy
        out[...] = apply(name, xp, u)
        return out
    t = xp.abs(u, out=out)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    xp.log1p(t, out=t)
    t += xp.maximum(u, _zeros_like(xp, u))
    return t


def derivative(name: str, xp, u, out=None):
    """f'(u): [u > 0] (relu), 1 - tanh(u)^2 (tanh), sigmoid(u) (softplus).

    sigmoid is written (1 + tanh(u/2)) / 2, so large |u| cannot overflow.
    """
    if out is None:
        out = xp.empty_like(u)
    if name == "relu":
        return xp.greater(u, 0, out=out)
    if name == "tanh":
        xp.tanh(u, out=out)
        out *= out
        xp.subtract(1, out, out=out)
        return out
    xp.multiply(u, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out
