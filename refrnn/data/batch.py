"""Vectorised pieces of batch assembly: gather, input noise, one-hot inputs.

Index arrays are built on the host; ``bk`` is the Backend that holds the
table of distinct observations (refrnn.data.compact), so on CUDA the gathers
run on the GPU.  Used by :mod:`refrnn.data.stream`.
"""
from __future__ import annotations

import numpy as np

from ..backends.noise import box_muller
from ..tasks.trials import N_OBS, NOISE_UNITS


def normal_f32(rng: np.random.Generator, k: int) -> np.ndarray:
    """(k,) float32 standard normals by the Box-Muller transform.

    About 4x faster here than ``rng.standard_normal(k, dtype=float32)``
    (a batch needs ~2e5 draws).  Uniforms have 24-bit resolution, so |z| is
    capped at sqrt(48 ln 2) = 5.77: irrelevant for input noise.
    """
    h = (k + 1) // 2
    z = box_muller(rng.random((2, h), dtype=np.float32), np.empty((2, h), dtype=np.float32))
    return z.reshape(-1)[:k]


def _code_columns():
    """Per noise code > 0: the noised units as a slice (contiguous) or index array."""
    cols = {}
    for c in range(1, NOISE_UNITS.shape[0]):
        u = np.flatnonzero(NOISE_UNITS[c])
        contiguous = u.size and u[-1] - u[0] + 1 == u.size
        cols[c] = slice(int(u[0]), int(u[-1]) + 1) if contiguous else u
    return cols


_CODE_COLUMNS = _code_columns()


def gather_noisy_obs(bk, obs_dev, src_dev, codes, std, rng):
    """Gather obs rows ``src_dev`` (backend int array, shape I), add input noise.

    ``obs_dev`` (R, 33) is a table of observations (TrialTable.obs) and
    ``src_dev`` the table rows of the steps wanted.
    ``codes`` (host uint8, shape I) are the noise codes of those rows; the
    units NOISE_UNITS[code] of each row get independent N(0, std^2) noise.  Draws are made on the
    host (the same numbers on every backend) and sent once; rows are handled
    code by code, which is much cheaper than a (..., 33) boolean mask.
    Returns a backend float32 array of shape I + (33,).
    """
    g = bk.xp.take(obs_dev, src_dev, axis=0)
    if std > 0:
        flat = codes.reshape(-1)
        rows = {c: np.flatnonzero(flat == c) for c in _CODE_COLUMNS}
        sizes = [rows[c].size * int(NOISE_UNITS[c].sum()) for c in _CODE_COLUMNS]
        draws = normal_f32(rng, sum(sizes))
        draws *= np.float32(std)
        draws = bk.asarray(draws)
        g2 = g.reshape(-1, N_OBS)
        start = 0
        for (c, cols), size in zip(_CODE_COLUMNS.items(), sizes):
            if size:
                r = bk.asarray(rows[c])
                z = draws[start:start + size].reshape(rows[c].size, -1)
                if isinstance(cols, slice):
                    g2[r, cols] += z
                else:
                    g2[r[:, None], bk.asarray(cols)[None, :]] += z
                start += size
    return g


class InputBuffer:
    """Stream batches' inputs x (T, B, 33 + n_tasks), rendered into one buffer.

    ``fill`` rewrites the observation units and moves the one-hot units from
    the previous batch's tasks to this one's, so a batch costs no allocation
    and no zeroing of the (T, B, n_tasks) block; the previous x is overwritten.
    """

    def __init__(self, bk, shape):
        self.bk = bk
        self.x = bk.xp.zeros(shape, dtype=np.float32)
        self._hot = None  # backend flat positions of the ones now in x

    def fill(self, obs, task):
        """x with x[..., :33] = obs (backend (T*B, 33) or (T, B, 33)) and
        x[t, b, 33 + task[t, b]] = 1 (host int (T, B)), every other unit 0."""
        x = self.x
        T, B, width = x.shape
        x[..., :N_OBS] = obs.reshape(T, B, N_OBS)
        flat = x.reshape(-1)
        if self._hot is not None:
            flat[self._hot] = 0.0
        self._hot = self.bk.asarray(np.arange(0, T * B * width, width) + N_OBS + task.ravel())
        flat[self._hot] = 1.0
        return x


def one_hot_inputs(bk, obs, task, n_tasks, valid=None):
    """x (T, B, 33 + n_tasks): obs plus the one-hot of ``task`` (host (T, B)).

    Steps where ``valid`` (host bool (T, B)) is False get no one-hot.
    """
    T, B = task.shape
    width = N_OBS + n_tasks
    x = bk.xp.zeros((T, B, width), dtype=np.float32)
    x[..., :N_OBS] = obs
    hot = np.arange(0, T * B * width, width) + N_OBS + task.ravel()  # flat positions
    if valid is not None:
        hot = hot[valid.ravel()]
    x.reshape(-1)[bk.asarray(hot)] = 1.0
    return x
