"""How a trial cache file is laid out, named, written and read back (no task code here).

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
by :func:`refrnn.data.cache.verify_cache`. Writing: :func:`write_settings`,
:func:`write_task` (or :func:`write_trials` for both); reading back:
:func:`read_settings`, :func:`check_sizes`, :func:`read_task`. Whether a file
is built, reused or rebuilt is :mod:`refrnn.data.cache`'s decision.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..files.checked_h5 import write_dataset
from ..files.ownership import h5_with_marker, remedy
from ..tasks import TASK_CODE_VERSION
from ..tasks.trials import N_OBS, TrialBatch

FORMAT_VERSION = 1
SPLITS = ("train", "test")
ARRAYS = ("obs", "labels", "noise", "offsets", "bounds")  # every task group holds these
ENV_CACHE_DIR = "REFRNN_CACHE_DIR"

# Codec chosen by measurement (docs/data.md, benchmarks/data.py --codecs):
# gzip level 1 was within 10% of gzip 9's size at a quarter of its write
# time, and read as fast as no compression; byte shuffle made it larger.
CODEC = {"compression": "gzip", "compression_opts": 1}


class CacheError(ValueError):
    """A cache file is missing, unreadable, corrupted or has other settings.

    ``what`` is the defect alone, without the advice (for the rebuild notice).
    """


def cache_error(path, what, todo=None) -> CacheError:
    """The CacheError for the file ``path``: "trial cache PATH: WHAT; TODO".
    ``todo`` defaults to "delete it and rebuild it" for a refrnn cache, and to
    checking the path for any other file (refrnn.files.ownership.remedy)."""
    if todo is None:
        todo = remedy(path, lambda p: h5_with_marker(p, b"refrnn_cache_format"),
                      "delete it and rebuild it (refrnn cache ...)", "a refrnn trial cache")
    err = CacheError(f"trial cache {path}: {what}; {todo}")
    err.what = what
    return err


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


def write_settings(f: h5py.File, settings: dict):
    """The root attributes: format, settings JSON, its sha256 and each setting again."""
    f.attrs["refrnn_cache_format"] = FORMAT_VERSION
    f.attrs["settings"] = settings_json(settings)
    f.attrs["settings_sha256"] = settings_hash(settings)
    for k, v in settings.items():
        f.attrs[k] = json.dumps(v)


def write_task(group: h5py.Group, tb: TrialBatch, codec=None):
    """Write one task's TrialBatch ``tb`` into ``group`` (layout above; codec default CODEC)."""
    codec = CODEC if codec is None else codec
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
    """Fill an open file: settings, then ``trials`` (split -> {task -> TrialBatch})."""
    write_settings(f, settings)
    for split, by_task in trials.items():
        for name, tb in by_task.items():
            write_task(f.create_group(f"{split}/{name}"), tb, codec)


def read_settings(path, f: h5py.File) -> dict:
    """The settings of an open cache file, checked against their hash and the task
    code version; CacheError naming ``path`` otherwise."""
    if f.attrs.get("refrnn_cache_format") != FORMAT_VERSION:
        raise cache_error(path, f"not a refrnn cache of format {FORMAT_VERSION}")
    try:
        s = json.loads(f.attrs["settings"])
        each = {k: json.loads(f.attrs[k]) for k in s}
    except (KeyError, ValueError, TypeError) as e:
        raise cache_error(path, f"settings attributes unreadable ({e})") from None
    if settings_hash(s) != f.attrs.get("settings_sha256") or each != s:
        raise cache_error(path, "settings attributes were altered (checksum mismatch)")
    if s["task_code_version"] != TASK_CODE_VERSION:
        raise cache_error(path, f"written by task code version {s['task_code_version']}, "
                                f"this refrnn has {TASK_CODE_VERSION}")
    return s


def check_sizes(path, f: h5py.File, s: dict):
    """Every split/task group of settings ``s`` is present with the sizes it promises."""
    counts = {"train": s["trials_per_task"], "test": s["test_trials_per_task"]}
    for split in SPLITS:
        for t in s["task_names"]:
            g = f.get(f"{split}/{t}")
            if g is None or any(k not in g for k in ARRAYS):
                raise cache_error(path, f"group {split}/{t} is missing or incomplete")
            n, n_steps = int(g.attrs["n_trials"]), int(g.attrs["n_steps"])
            p = len(json.loads(g.attrs["period_names"]))
            want = {"obs": (n_steps, N_OBS), "labels": (n_steps,), "noise": (n_steps,),
                    "offsets": (n + 1,), "bounds": (n, p + 1)}
            bad = [k for k, shp in want.items() if g[k].shape != shp]
            if n != counts[split] or bad:
                raise cache_error(path, f"group {split}/{t} has wrong sizes ({bad or 'n_trials'})")


def read_task(g: h5py.Group, task: str) -> TrialBatch:
    """The TrialBatch (labels int64) stored in group ``g``; ValueError when its
    offsets and bounds disagree."""
    params = {}
    for k in json.loads(g.attrs["param_names"]):
        v = g["params"][k][()]
        params[k] = np.char.decode(v, "utf-8") if v.dtype.kind == "S" else v
    tb = TrialBatch(task, g["obs"][()], g["labels"][()].astype(np.int64),
                    g["noise"][()], g["offsets"][()], g["bounds"][()],
                    tuple(json.loads(g.attrs["period_names"])), params)
    lengths = tb.lengths
    if (lengths.min(initial=1) < 1 or np.any(tb.bounds[:, 0] != 0)
            or np.any(tb.bounds[:, -1] != lengths)):
        raise ValueError(f"{g.name}: offsets and bounds disagree")
    return tb
