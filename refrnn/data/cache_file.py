"""How a trial cache file is laid out, named and written (no task code here).

Layout of one cache file (HDF5)::

    /                       attrs: refrnn_cache_format, settings (JSON),
                                   settings_sha256, and each setting again
    /<split>/<task>/        split = "train" | "test"; attrs n_trials, n_steps,
                                   period_names (JSON), param_names (JSON)
        obs      float32 (S, 33)   noise-free observations
        labels   uint8   (S,)      target class (0..16), int64 once loaded
        noise    uint8   (S,)      per-step input-noise code
        offsets  int64   (n + 1,)  trial i is rows offsets[i]:offsets[i+1]
        bounds   int64   (n, P+1)  period boundaries relative to trial onset
        params/<name>    (n,)      per-trial parameters

Every dataset carries an attribute ``sha256`` (of its raw C-order bytes) and
the HDF5 fletcher32 filter, so a flipped byte is caught by any read, not only
by :func:`refrnn.data.cache.verify_cache`.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..files.atomic import atomic_write_h5  # noqa: F401  (re-exported: caches are written with it)
from ..files.digest import array_sha256

FORMAT_VERSION = 1
ENV_CACHE_DIR = "REFRNN_CACHE_DIR"

# Codec chosen by measurement (docs/data.md, benchmarks/data.py --codecs):
# gzip level 1 was within 10% of gzip 9's size at a quarter of its write
# time, and read as fast as no compression; byte shuffle made it larger.
CODEC = {"compression": "gzip", "compression_opts": 1}
CHUNK_BYTES = 1 << 18  # about 256 KiB per chunk


def default_cache_dir() -> Path:
    """$REFRNN_CACHE_DIR, else $XDG_CACHE_HOME/refrnn, else ~/.cache/refrnn."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "refrnn"


def settings_json(settings: dict) -> str:
    """Canonical JSON of ``settings`` (sorted keys, no spaces): what is hashed."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def settings_hash(settings: dict) -> str:
    """sha256 hex digest of :func:`settings_json`."""
    return hashlib.sha256(settings_json(settings).encode()).hexdigest()


def cache_file_name(settings: dict) -> str:
    """File name for a cache: readable prefix plus a hash of every setting."""
    compat = settings["compat"] or "refrnn"
    return (f"{settings['task_set']}-{compat}-dt{settings['dt']}"
            f"-n{settings['trials_per_task']}-s{settings['seed']}"
            f"-{settings_hash(settings)[:16]}.h5")


def lock_path(path) -> Path:
    """The lock file held while the cache ``path`` is being built: ``.<name>.lock``."""
    return Path(path).with_name(f".{Path(path).name}.lock")


def write_dataset(group: h5py.Group, name: str, data: np.ndarray, codec=None):
    """Create ``group[name]`` chunked, compressed and checksummed."""
    data = np.ascontiguousarray(data)
    codec = CODEC if codec is None else codec
    kwargs = {}
    if data.size:
        row_bytes = max(1, data.itemsize * int(np.prod(data.shape[1:], dtype=np.int64)))
        rows = int(min(data.shape[0], max(1, CHUNK_BYTES // row_bytes)))
        kwargs = dict(codec, chunks=(rows,) + data.shape[1:], fletcher32=True)
    ds = group.create_dataset(name, data=data, **kwargs)
    ds.attrs["sha256"] = array_sha256(data)
    return ds


def _write_batch(group: h5py.Group, tb, codec=None):
    """Write one task's TrialBatch ``tb`` into ``group`` (layout above)."""
    write_dataset(group, "obs", tb.obs.astype(np.float32, copy=False), codec)
    if tb.labels.size and (tb.labels.min() < 0 or tb.labels.max() > 255):
        raise ValueError(f"task {tb.task!r}: labels outside 0..255")
    write_dataset(group, "labels", tb.labels.astype(np.uint8), codec)
    write_dataset(group, "noise", tb.noise.astype(np.uint8), codec)
    write_dataset(group, "offsets", tb.offsets.astype(np.int64), codec)
    write_dataset(group, "bounds", tb.bounds.astype(np.int64), codec)
    pg = group.create_group("params")
    for k, v in tb.params.items():
        v = np.asarray(v)
        if v.dtype.kind == "U":
            v = np.char.encode(v, "utf-8")
        if v.dtype.kind not in "biufS":
            raise ValueError(f"task {tb.task!r}: parameter {k!r} has dtype {v.dtype}")
        write_dataset(pg, k, v, codec)
    group.attrs.update(n_trials=tb.n_trials, n_steps=int(tb.obs.shape[0]),
                       period_names=json.dumps(list(tb.period_names)),
                       param_names=json.dumps(list(tb.params)))


def write_trials(f: h5py.File, settings: dict, trials: dict, codec=None):
    """Fill an open file: ``trials`` maps split -> {task -> TrialBatch}."""
    text = settings_json(settings)
    f.attrs["refrnn_cache_format"] = FORMAT_VERSION
    f.attrs["settings"] = text
    f.attrs["settings_sha256"] = settings_hash(settings)
    for k, v in settings.items():
        f.attrs[k] = json.dumps(v)
    for split, by_task in trials.items():
        for name, tb in by_task.items():
            _write_batch(f.create_group(f"{split}/{name}"), tb, codec)
