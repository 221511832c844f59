"""Recurrent connectivity patterns (masks) as CSR matrices.

A mask is an (n, n) ``scipy.sparse.csr_matrix`` of ones; row i lists the
neurons that neuron i *receives* from (rows = receiving neuron, sorted column
indices, no duplicates). Every mask is deterministic given
``(kind, n, sparsity, seed)``; only ``random`` uses the seed.

Kinds:
    locality  neurons on an r x c sheet with periodic borders. Each neuron
              receives from its k = round(sparsity * n) nearest neighbours
              (Euclidean distance on the torus), itself included.
              Sheet shape: r is the largest divisor of n with r <= sqrt(n),
              c = n // r. A perfect square gives sqrt(n) x sqrt(n); n = 24
              gives 4 x 6; a prime n gives a 1 x n sheet (then locality
              equals ring).
              Tie-break: candidates at equal distance are taken in order of
              their flat offset ((dr mod r) * c + (dc mod c)), smallest
              first. The chosen offset set is the same for every neuron, so
              the pattern is translation invariant on the torus.
    ring      the same on a 1-D ring of n neurons; ties (offset +d versus -d)
              are broken by the offset d mod n, so +d comes first.
    random    the same in-degree k; row i's k sources are drawn without
              replacement from all n neurons (itself allowed) by
              ``numpy.random.default_rng(seed)``, row by row.
    full      every connection (k = n; sparsity is ignored).
    autapse   the diagonal only (k = 1; sparsity is ignored): the
              "unconnected autapses" control.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..backends.memory import check_fits
from ..backends.plain import pattern_coordinates
from ..tasks.trials import check_int

MASK_KINDS = ("locality", "ring", "random", "full", "autapse")
SPATIAL_KINDS = ("locality", "ring")
# bytes per mask entry while make_mask builds it: the int64 sources and one
# int64 temporary, their sorted copy, the CSR's int32 indices and float64 ones
BUILD_BYTES_PER_ENTRY = 40


def _check_n(n) -> int:
    return check_int("n (number of neurons)", n)


def in_degree(n: int, sparsity: float) -> int:
    """k = round(sparsity * n), halves rounded up.

    Raises ValueError naming the value for sparsity outside (0, 1], NaN, a
    non-number, or k < 1.
    """
    n = _check_n(n)
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"sparsity must be a number in (0, 1], got {sparsity!r}") from None
    if math.isnan(s) or not (0.0 < s <= 1.0):
        raise ValueError(f"sparsity must be in (0, 1], got {sparsity!r}")
    k = _rounded_degree(s, n)
    if k < 1:
        raise ValueError(
            f"sparsity {sparsity!r} with n={n} gives in-degree k={k} < 1; "
            f"use sparsity >= {_least_sparsity(n)}"
        )
    return min(k, n)


def _rounded_degree(s: float, n: int) -> int:
    return int(math.floor(s * n + 0.5))


def _least_sparsity(n: int) -> str:
    """The smallest 3-significant-digit sparsity that gives n units in-degree 1,
    as text (0.5 / n itself is often not one: 0.5 / 7 = 0.0714285... prints as
    0.0714, which rounds to k = 0)."""
    exact = 0.5 / n
    digits = 3 - 1 - math.floor(math.log10(exact))
    step = 10.0 ** -digits
    v = math.ceil(exact / step - 1e-9) * step  # 0.5 / 1000 / 1e-6 is 500.0000000001
    while _rounded_degree(float(f"{v:.{max(digits, 0)}f}"), n) < 1:
        v += step
    return f"{v:.{max(digits, 0)}f}".rstrip("0").rstrip(".") if digits > 0 else f"{v:.0f}"


def sheet_shape(n: int) -> tuple[int, int]:
    """(r, c) with r * c = n, r the largest divisor of n not above sqrt(n)."""
    n = _check_n(n)
    r = math.isqrt(n)
    while n % r:
        r -= 1
    return r, n // r


def torus_shape(kind: str, n: int):
    """The (r, c) torus a spatial kind's neurons lie on (neuron i at (i // c,
    i % c)): sheet_shape(n) for locality, (1, n) for ring; None otherwise."""
    if kind == "locality":
        return sheet_shape(n)
    return (1, _check_n(n)) if kind == "ring" else None


def _torus_offsets(r: int, c: int):
    """All n offsets as (dr, dc) in 0..r-1, 0..c-1 and their squared distance."""
    dr, dc = np.meshgrid(np.arange(r), np.arange(c), indexing="ij")
    dr, dc = dr.ravel(), dc.ravel()  # flat offset order: dr * c + dc
    er = np.minimum(dr, r - dr)
    ec = np.minimum(dc, c - dc)
    return dr, dc, er * er + ec * ec


def _nearest_offsets(r: int, c: int, k: int):
    """The k offsets nearest to (0, 0) on the r x c torus, tie-break by flat offset."""
    dr, dc, d2 = _torus_offsets(r, c)
    order = np.lexsort((np.arange(r * c), d2))[:k]  # primary d2, then flat offset
    return dr[order], dc[order], float(np.sqrt(d2[order].max()))


def _csr_from_sources(n: int, src: np.ndarray) -> sp.csr_matrix:
    """CSR of ones from src (n, k): row i receives from src[i]."""
    k = src.shape[1]
    src = np.sort(src, axis=1)
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    m = sp.csr_matrix(
        (np.ones(n * k), src.ravel().astype(np.int32), indptr), shape=(n, n)
    )
    m.has_sorted_indices = True
    return m


def _spatial_sources(kind: str, n: int, k: int) -> np.ndarray:
    r, c = torus_shape(kind, n)
    dr, dc, _ = _nearest_offsets(r, c, k)
    i = np.arange(n)
    a, b = (i // c)[:, None], (i % c)[:, None]
    return ((a + dr[None, :]) % r) * c + (b + dc[None, :]) % c


def mask_nnz(kind: str, n: int, sparsity: float = 0.04) -> int:
    """The number of entries of make_mask(kind, n, sparsity), computed without
    building it: n * n (full), n (autapse), else n * in_degree(n, sparsity)."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS}")
    n = _check_n(n)
    if kind == "full":
        return n * n
    return n if kind == "autapse" else n * in_degree(n, sparsity)


def check_mask_fits(kind: str, n: int, sparsity: float = 0.04, extra=None) -> int:
    """The bytes building the mask takes (plus ``extra``, a {part: bytes} dict
    of what the caller allocates with it), or TooLarge (a ValueError, one line)
    when that is more than this machine's memory (refrnn.backends.memory)."""
    parts = {"the mask being built": BUILD_BYTES_PER_ENTRY * mask_nnz(kind, n, sparsity),
             **(extra or {})}
    return check_fits(parts, f"a {kind} mask of {n} neurons ({mask_nnz(kind, n, sparsity):,} "
                      "connections)", "lower hidden or sparsity")


def make_mask(kind: str, n: int, sparsity: float = 0.04, seed: int = 0) -> sp.csr_matrix:
    """Build the (n, n) CSR pattern of ``kind`` (see the module docstring).

    Returns a csr_matrix with float64 ones, rows = receiving neuron, sorted
    indices, exactly k entries per row. Raises ValueError for an unknown kind,
    bad n or bad sparsity (see :func:`in_degree`), and its subclass TooLarge
    before allocating a mask larger than the machine's memory.
    """
    check_mask_fits(kind, n, sparsity)
    n = _check_n(n)
    if kind == "full":
        src = np.broadcast_to(np.arange(n), (n, n))
    elif kind == "autapse":
        src = np.arange(n)[:, None]
    else:
        k = in_degree(n, sparsity)
        if kind == "random":
            rng = np.random.default_rng(seed)
            src = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n)])
        else:
            src = _spatial_sources(kind, n, k)
    return _csr_from_sources(n, np.asarray(src))


def torus_distance(kind: str, n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Euclidean distance between neurons rows[j] and cols[j] on kind's torus
    (locality or ring: the other kinds place their neurons nowhere)."""
    shape = torus_shape(kind, n)
    if shape is None:
        raise ValueError(f"a {kind} mask has no torus: distances exist for locality and ring")
    r, c = shape
    ar, ac = rows // c, rows % c
    br, bc = cols // c, cols % c
    er = np.abs(ar - br)
    ec = np.abs(ac - bc)
    er = np.minimum(er, r - er)
    ec = np.minimum(ec, c - ec)
    return np.sqrt(er * er + ec * ec)


def neighbourhood_radius(kind: str, n: int, sparsity: float) -> float:
    """Distance of the farthest of the k chosen neighbours (spatial kinds)."""
    if kind not in SPATIAL_KINDS:
        raise ValueError(f"radius is defined for {SPATIAL_KINDS}, got {kind!r}")
    k = in_degree(n, sparsity)
    r, c = torus_shape(kind, n)
    return _nearest_offsets(r, c, k)[2]


def mask_stats(mask, kind: str | None = None) -> dict:
    """Summary of a CSR mask.

    Returns a dict with n, nnz, density, in_degree_min, in_degree_max and,
    when ``kind`` is "locality" or "ring", ``radius``: the largest distance
    between a neuron and one of its sources on that kind's torus.
    """
    mask = sp.csr_matrix(mask)
    n = mask.shape[0]
    deg = np.diff(mask.indptr)
    out = {
        "n": int(n),
        "nnz": int(mask.nnz),
        "density": float(mask.nnz) / float(n * n),
        "in_degree_min": int(deg.min()),
        "in_degree_max": int(deg.max()),
    }
    if kind is not None:
        if kind not in MASK_KINDS:
            raise ValueError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS}")
        if kind in SPATIAL_KINDS:
            rows, cols = pattern_coordinates(mask)
            out["radius"] = float(torus_distance(kind, n, rows, cols).max())
    return out
