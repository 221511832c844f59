"""Training checkpoints in HDF5 (no pickle), written atomically and checksummed.

Layout of a checkpoint file::

    /params/<name>            model parameters under their own names: W_in (N, n_in),
                              b (N,), w_rec (nnz,), W_out (n_out, N), b_out (n_out,), h0 (N,)
    /mask/indptr, /indices    the recurrent CSR pattern (N + 1,), (nnz,); attr shape
    /optim/...                the optimiser's state_dict (nested groups)
    /json/<name>              uint8 UTF-8 JSON blobs: config, sampler, extra
    attrs: format, step       checkpoint format version, updates done

Each dataset carries a ``sha256`` attribute (of dtype, shape and bytes, as
``digest.array_sha256`` computes it; written and read by
:mod:`refrnn.files.checked_h5`); loading checks them all, so a flipped byte
is an error rather than a silently wrong model; structural HDF5 damage is a
CheckpointError too. Older formats still load: format 1 (refrnn 0.1.0)
stored the parameters as ``params/k0..k4`` with their names in a JSON
attribute; formats 1 and 2 also hold ``json/rng``, a note on the seeds that
the config and the sampler state already hold, which is ignored. Writes go
through ``refrnn.files.atomic.atomic_bytes`` (built in
memory, then temporary file, fsync, rename), so a failed write (full disk
included) leaves the old checkpoint untouched.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..files.atomic import atomic_bytes
from ..files.checked_h5 import (ChecksumMismatch, decode_arrays, host_array, json_default,
                                read_checked, read_tree, write_dataset, write_tree)
from ..files.sealed_h5 import USERBLOCK, open_h5, seal
from ..files.errors import H5_DAMAGE, damage_text, raise_os_cause
from ..files.ownership import h5_with_marker, remedy

FORMAT = "refrnn-checkpoint-3"
# 1: parameters as a k0..kN tree; 1 and 2: an unused json/rng blob besides
READABLE = ("refrnn-checkpoint-1", "refrnn-checkpoint-2", FORMAT)
JSON_BLOBS = ("config", "sampler", "extra")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or does not match the run."""


@dataclass
class Checkpoint:
    """The contents of one checkpoint file (NumPy arrays, JSON-able dicts)."""

    step: int
    params: dict
    mask_indptr: np.ndarray
    mask_indices: np.ndarray
    mask_shape: tuple
    optim: dict
    config: dict
    sampler: dict | None = None
    extra: dict = field(default_factory=dict)


def save_checkpoint(path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_bytes(path) as tmp:  # built in memory: a full disk cannot break h5py
        with h5py.File(tmp, "w", userblock_size=USERBLOCK) as f:  # sealed: files/sealed_h5
            f.attrs["format"] = FORMAT
            f.attrs["step"] = int(ckpt.step)
            _write_params(f.create_group("params", track_order=True), ckpt.params)
            m = f.create_group("mask")
            m.attrs["shape"] = np.asarray(ckpt.mask_shape, dtype=np.int64)
            write_dataset(m, "indptr", np.asarray(ckpt.mask_indptr, dtype=np.int64))
            write_dataset(m, "indices", np.asarray(ckpt.mask_indices, dtype=np.int64))
            write_tree(f.create_group("optim"), ckpt.optim)
            j = f.create_group("json")
            for name in JSON_BLOBS:
                blob = json.dumps(getattr(ckpt, name), default=json_default).encode("utf-8")
                write_dataset(j, name, np.frombuffer(blob, dtype=np.uint8))
        seal(tmp.getbuffer())  # the SHA-256 every open checks before libhdf5 parses
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint; CheckpointError naming the file on any defect."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with open_h5(path) as f:  # bytes checked first: damage never reaches libhdf5
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt not in READABLE:
                raise CheckpointError(f"checkpoint {str(path)!r} has format {fmt!r}, "
                                      f"expected one of {READABLE}")
            js = {k: decode_arrays(json.loads(read_checked(f["json"][k]).tobytes()
                                              .decode("utf-8"))) for k in JSON_BLOBS}
            return Checkpoint(
                step=int(f.attrs["step"]),
                params=(read_tree(f["params"]) if fmt == READABLE[0]
                        else {k: read_checked(d) for k, d in f["params"].items()}),
                mask_indptr=read_checked(f["mask/indptr"]),
                mask_indices=read_checked(f["mask/indices"]),
                mask_shape=tuple(int(v) for v in f["mask"].attrs["shape"]),
                optim=read_tree(f["optim"]),
                config=js["config"], sampler=js["sampler"], extra=js["extra"])
    except CheckpointError:
        raise
    except ChecksumMismatch as e:
        raise CheckpointError(f"checkpoint {e}; delete the file or start a new run with "
                              "force=True") from None
    except H5_DAMAGE as e:
        raise_os_cause(e, path)
        todo = remedy(path, lambda p: h5_with_marker(p, b"refrnn-checkpoint-"),
                      "delete it or start a new run with force=True", "a refrnn checkpoint")
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable or corrupted "
                              f"({damage_text(e)}); {todo}") from None


def _write_params(group, params: dict):
    """One dataset per parameter, named as the model names it (W_in, w_rec, ...)."""
    for k, v in params.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"parameter name {k!r} is not a valid dataset name")
        write_dataset(group, k, host_array(v))


def restore_params(model, ckpt: Checkpoint, where: str = "checkpoint"):
    """Copy ``ckpt``'s parameters into ``model`` in place, after checking that the
    recurrent pattern and every parameter's name and shape match."""
    m = model.mask
    if (tuple(m.shape) != tuple(ckpt.mask_shape)
            or not np.array_equal(np.asarray(m.indptr), ckpt.mask_indptr)
            or not np.array_equal(np.asarray(m.indices), ckpt.mask_indices)):
        raise CheckpointError(f"checkpoint {where!r} holds another recurrent mask pattern "
                              f"(shape {tuple(ckpt.mask_shape)}, nnz {ckpt.mask_indices.size})"
                              f" than this model (shape {tuple(m.shape)}, nnz {m.nnz})")
    if set(ckpt.params) != set(model.params):
        raise CheckpointError(f"checkpoint {where!r} has parameters {sorted(ckpt.params)}, "
                              f"the model {sorted(model.params)}")
    for k, v in model.params.items():
        a = ckpt.params[k]
        if tuple(a.shape) != tuple(v.shape):
            raise CheckpointError(f"checkpoint {where!r}: {k} has shape {tuple(a.shape)}, "
                                  f"the model {tuple(v.shape)}")
        v[...] = model.backend.asarray(a, dtype=v.dtype)
