"""The one array checksum refrnn stores beside every HDF5 dataset it writes
(trial caches and checkpoints), so a flipped byte is found on loading."""
from __future__ import annotations

import hashlib

import numpy as np


def array_sha256(a: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes (hex)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.data if a.size else b"")
    return h.hexdigest()
