"""Fast standard normals by the Box-Muller transform (CPU, float32 or float64).

Used for the input noise of served batches and the recurrent noise of the CPU
forward pass, where numpy's ``standard_normal`` was several times slower.
"""
from __future__ import annotations

import math

import numpy as np


def box_muller(u: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Turn uniforms ``u`` (2, m) in [0, 1) into 2m standard normals in ``out`` (2, m).

    For u1, u2 uniform, sqrt(-2 ln(1 - u1)) * (cos, sin)(2 pi u2) are two
    independent N(0, 1) draws. ``u`` is overwritten. With float32 uniforms
    (24-bit resolution) |z| <= sqrt(48 ln 2) = 5.77.
    """
    t = u.dtype.type
    r = np.subtract(t(1), u[0], out=u[0])  # (0, 1]: the log is finite
    np.log(r, out=r)
    r *= t(-2)
    np.sqrt(r, out=r)
    u[1] *= t(2 * math.pi)
    np.cos(u[1], out=out[0])
    np.sin(u[1], out=out[1])
    out *= r
    return out
