"""Checksummed HDF5 datasets: the one writer and reader for trial caches and checkpoints.

Every dataset written here carries an attribute ``sha256`` of its dtype,
shape and C-order bytes (:func:`refrnn.files.digest.array_sha256`), so a
flipped byte is found by :func:`read_checked` or :func:`checksum_ok`.
:func:`write_tree` / :func:`read_tree` store a nested dict or list of arrays
and scalars (an optimiser's state) as groups of such datasets;
:func:`json_default` / :func:`decode_arrays` carry NumPy values through JSON.
Imports h5py: modules that must import without it import this one only
inside their functions, or not at all.
"""
from __future__ import annotations

import json

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


def json_default(o):
    """json.dumps's ``default``: NumPy scalars as numbers, arrays as tagged lists."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return {"__ndarray__": o.tolist(), "dtype": str(o.dtype)}
    raise TypeError(f"cannot store {type(o).__name__} as JSON")


def decode_arrays(o):
    """Turn ``{"__ndarray__": ..., "dtype": ...}`` entries of a JSON blob back into arrays."""
    if isinstance(o, dict):
        if set(o) == {"__ndarray__", "dtype"}:
            return np.asarray(o["__ndarray__"], dtype=o["dtype"])
        return {k: decode_arrays(v) for k, v in o.items()}
    if isinstance(o, list):
        return [decode_arrays(v) for v in o]
    return o


def write_tree(group, obj):
    """Store a nested dict/list of arrays and scalars: arrays as datasets, the rest as JSON."""
    if isinstance(obj, dict):
        keys = list(obj)
        group.attrs["kind"] = "dict"
    elif isinstance(obj, (list, tuple)):
        keys = list(range(len(obj)))
        group.attrs["kind"] = "list"
    else:
        raise TypeError(f"cannot store {type(obj).__name__} as a tree")
    group.attrs["keys"] = json.dumps(keys)
    scalars = {}
    for i, k in enumerate(keys):
        v = obj[k]
        name = f"k{i}"
        if isinstance(v, (dict, list, tuple)):
            write_tree(group.create_group(name), v)
        elif isinstance(v, np.ndarray) or getattr(v, "ndim", 0) > 0:
            write_dataset(group, name, host_array(v))
        else:
            scalars[name] = json_default(v) if isinstance(v, (np.generic,)) else _host_scalar(v)
    group.attrs["scalars"] = json.dumps(scalars)


def read_tree(group):
    """The nested dict or list :func:`write_tree` stored in ``group`` (arrays checked)."""
    keys = json.loads(group.attrs["keys"])
    scalars = json.loads(group.attrs["scalars"])
    vals = []
    for i, _ in enumerate(keys):
        name = f"k{i}"
        if name in scalars:
            vals.append(scalars[name])
        elif isinstance(group[name], h5py.Group):
            vals.append(read_tree(group[name]))
        else:
            vals.append(read_checked(group[name]))
    kind = group.attrs["kind"]
    kind = kind.decode() if isinstance(kind, bytes) else kind
    return dict(zip(keys, vals)) if kind == "dict" else vals


def host_array(v) -> np.ndarray:
    """A NumPy copy of a NumPy or CuPy array."""
    return v.get() if hasattr(v, "get") and not isinstance(v, np.ndarray) else np.asarray(v)


def _host_scalar(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "item"):  # 0-d NumPy/CuPy array
        return host_array(v).item()
    raise TypeError(f"cannot store {type(v).__name__} in an HDF5 tree")
