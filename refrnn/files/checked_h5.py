"""Checksummed HDF5 datasets: the one writer and reader for trial caches and checkpoints.

Every dataset written here carries an attribute ``sha256`` of its dtype,
shape and C-order bytes (:func:`refrnn.files.digest.array_sha256`), so a
flipped byte is found by :func:`read_checked` or :func:`checksum_ok`.
Imports h5py: modules that must import without it import this one only
inside their functions, or not at all.
"""
from __future__ import annotations

import h5py
import numpy as np

from .digest import array_sha256

CHUNK_BYTES = 1 << 18  # about 256 KiB per chunk of a compressed dataset


class ChecksumMismatch(ValueError):
    """A dataset's bytes do not match its stored ``sha256`` (names the dataset and file)."""


def write_dataset(group: h5py.Group, name: str, data, codec=None) -> h5py.Dataset:
    """Create ``group[name]`` holding ``data`` (C order, 0-d kept 0-d), with its sha256.

    Args:
        group: an open, writable h5py Group (or File).
        name: the dataset's name in ``group``.
        data: array-like; stored in C order.
        codec: None = contiguous, unfiltered; else h5py filter keywords (e.g.
            ``{"compression": "gzip", "compression_opts": 1}``): the dataset is
            then chunked (about CHUNK_BYTES per chunk, whole rows) and
            fletcher32-checked as well. 0-d and empty arrays are never chunked.
    """
    data = np.asarray(data, order="C")
    kwargs = {}
    if codec is not None and data.ndim and data.size:
        row_bytes = max(1, data.itemsize * int(np.prod(data.shape[1:], dtype=np.int64)))
        rows = int(min(data.shape[0], max(1, CHUNK_BYTES // row_bytes)))
        kwargs = dict(codec, chunks=(rows,) + data.shape[1:], fletcher32=True)
    ds = group.create_dataset(name, data=data, **kwargs)
    ds.attrs["sha256"] = array_sha256(data)
    return ds


def stored_sha256(dset: h5py.Dataset):
    """The ``sha256`` attribute of ``dset`` as text, or None."""
    want = dset.attrs.get("sha256")
    return want.decode() if isinstance(want, bytes) else want


def checksum_ok(dset: h5py.Dataset, arr=None) -> bool:
    """Whether ``dset``'s contents (or ``arr``, already read from it) match its sha256."""
    arr = np.array(dset[()], order="C") if arr is None else arr
    return stored_sha256(dset) == array_sha256(arr)


def read_checked(dset: h5py.Dataset) -> np.ndarray:
    """``dset``'s contents as a C-order array; ChecksumMismatch when they fail the sha256."""
    arr = np.array(dset[()], order="C")
    if not checksum_ok(dset, arr):
        raise ChecksumMismatch(f"dataset {dset.name!r} in {str(dset.file.filename)!r} "
                               "fails its checksum (corrupted)")
    return arr
