"""Fast standard normals by the Box-Muller transform (CPU, float32 or float64),
and the CPU's recurrent-noise stream built on it.

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


def uniforms32(bitgen, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (float32, even size) with uniforms in [0, 1) of 24 bits:
    two from each 64-bit word of ``bitgen``'s raw stream (its low half first),
    (word >> 8) * 2^-24. Numpy's Generator.random(dtype=float32) calls the bit
    generator once per number: 2.0 against 1.3 ns a number here (AMD EPYC)."""
    words = bitgen.random_raw(out.size // 2).view(np.uint32)
    np.right_shift(words, 8, out=words)
    out.reshape(-1)[...] = words
    out *= np.float32(2.0 ** -24)
    return out


# ---- the CPU's recurrent-noise stream ------------------------------------------
CHUNK = 1 << 17  # elements per noise chunk: 512 KiB in float32, cache-resident


def new_noise_seed(rng) -> int:
    """One 63-bit integer from ``rng``: the seed of one forward pass's noise."""
    return int(rng.integers(0, 2 ** 63 - 1))


def chunk_rows(k: int) -> int:
    """Rows of an (n, k) noise array in one chunk: about CHUNK elements."""
    return max(1, CHUNK // max(k, 1))


def noise_rows(seed: int, n: int, k: int, dtype, r0: int = 0, r1: int = None):
    """Yield (c0, c1, z): standard normals for rows c0:c1 of an (n, k) array,
    covering rows r0:r1 (default all) in order.

    The rows fall in fixed chunks of chunk_rows(k) rows; chunk j is
    Box-Muller on uniforms from SFC64(SeedSequence([seed, j])) (float32:
    uniforms32 of its raw words; float64: Generator.random). A chunk that
    r0:r1 cuts is made whole and cut, so the draws depend only on (seed, n,
    k, dtype), never on how the rows are split between threads. In float32
    |z| <= 5.77. z, (c1 - c0, k), is reused: copy to keep.
    """
    dtype = np.dtype(dtype)
    r1 = n if r1 is None else r1
    rows = chunk_rows(k)
    m_max = (rows * k + 1) // 2
    u = np.empty(2 * m_max, dtype=dtype)
    z = np.empty(2 * m_max, dtype=dtype)
    for j in range(r0 // rows, -(-r1 // rows)):
        j0, j1 = j * rows, min(n, (j + 1) * rows)
        m = ((j1 - j0) * k + 1) // 2
        uu, zz = u[:2 * m].reshape(2, m), z[:2 * m].reshape(2, m)
        bits = np.random.SFC64(np.random.SeedSequence([seed, j]))
        if dtype == np.float32:
            uniforms32(bits, uu)
        else:
            np.random.Generator(bits).random(out=uu, dtype=dtype)
        box_muller(uu, zz)
        c0, c1 = max(r0, j0), min(r1, j1)
        yield c0, c1, zz.reshape(-1)[(c0 - j0) * k:(c1 - j0) * k].reshape(c1 - c0, k)


def draw_noise(seed: int, n: int, k: int, dtype) -> np.ndarray:
    """Every draw of noise_rows(seed, n, k, dtype) as one new (n, k) array."""
    out = np.empty((n, k), dtype=dtype)
    for c0, c1, z in noise_rows(seed, n, k, dtype):
        out[c0:c1] = z
    return out
