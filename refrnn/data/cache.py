"""HDF5 trial cache: generate a task set's trials once, read them back fast.

build_cache(...)        generate train and test trials and write one file
open_cache(path)        check attributes and sizes, return a TrialCache
verify_cache(path)      recompute every dataset checksum
get_or_build_cache(...) the default cache (per-user folder): open it, or build
                        it when missing, and rebuild it when it is invalid

Train and test trials come from independent child seeds of ``seed``
(``SeedSequence(seed, spawn_key=(split, crc32(task)))``), so the test split of
a task depends only on the seed, the task and the test count.  The layout is
described in :mod:`refrnn.data.cache_file`.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import h5py
import numpy as np

from . import cache_file as L
from .footprint import check_cache_fits
from ..files.digest import array_sha256
from .cache_file import _write_batch, write_trials  # noqa: F401  (part of this API)
from ..files.errors import H5_DAMAGE, FileError, damage_text, raise_os_cause
from ..files.locks import hold_lock
from ..files.notices import notice
from ..files.ownership import check_replaceable, h5_with_marker
from ..files.sealed_h5 import open_h5, write_sealed_h5
from ..tasks import TASK_CODE_VERSION
from ..tasks.encoding import check_dt
from ..tasks.trials import N_OBS, TrialBatch

SPLITS = ("train", "test")
_ARRAYS = ("obs", "labels", "noise", "offsets", "bounds")


CACHE_MARK = b"refrnn_cache_format"  # the root attribute every cache file has


def is_cache_file(path) -> bool:
    """Whether ``path`` holds a refrnn trial cache (by its bytes; may be damaged)."""
    return h5_with_marker(path, CACHE_MARK)


class CacheError(ValueError):
    """A cache file is missing, unreadable, corrupted or has other settings."""


def cache_settings(task_set, trials_per_task, seed, *, test_trials_per_task=None,
                   compat=None, dt=100, task_seed=0) -> dict:
    """Every setting that determines a cache's content, validated.

    ``test_trials_per_task`` defaults to max(1, trials_per_task // 10);
    ``task_seed`` is the task-set seed passed to ``get_task(..., seed=)`` (it
    fixes the per-instance delay of the delayed-match tasks).
    """
    for name, v in (("trials_per_task", trials_per_task), ("seed", seed),
                    ("task_seed", task_seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if trials_per_task < 1:
        raise ValueError(f"trials_per_task must be >= 1, got {trials_per_task}")
    if seed < 0 or task_seed < 0:
        raise ValueError(f"seed and task_seed must be >= 0, got {seed}, {task_seed}")
    if test_trials_per_task is None:
        test_trials_per_task = max(1, int(trials_per_task) // 10)
    if (isinstance(test_trials_per_task, bool)
            or not isinstance(test_trials_per_task, (int, np.integer))
            or test_trials_per_task < 1):
        raise ValueError(f"test_trials_per_task must be an integer >= 1, "
                         f"got {test_trials_per_task!r}")
    from ..tasks.registry import task_names  # validates task_set
    return {
        "format_version": L.FORMAT_VERSION,
        "task_code_version": TASK_CODE_VERSION,
        "task_set": str(task_set),
        "compat": compat,
        "dt": check_dt(dt),
        "seed": int(seed),
        "task_seed": int(task_seed),
        "trials_per_task": int(trials_per_task),
        "test_trials_per_task": int(test_trials_per_task),
        "task_names": list(task_names(task_set)),
    }


def default_cache_path(task_set, trials_per_task, seed, *, test_trials_per_task=None,
                       compat=None, dt=100, task_seed=0, cache_dir=None) -> Path:
    """Where the default cache for these settings lives (see cache_layout)."""
    s = cache_settings(task_set, trials_per_task, seed, test_trials_per_task=test_trials_per_task,
                       compat=compat, dt=dt, task_seed=task_seed)
    folder = Path(cache_dir) if cache_dir is not None else L.default_cache_dir()
    return folder / L.cache_file_name(s)


def _task_rng(seed: int, split: str, task: str) -> np.random.Generator:
    key = (SPLITS.index(split), zlib.crc32(task.encode()))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def build_cache(task_set, trials_per_task, seed, *, test_trials_per_task=None,
                compat=None, dt=100, task_seed=0, path=None, wait=False) -> Path:
    """Generate every task's train and test trials and write them atomically.

    Settings as in :func:`cache_settings`.  Returns the path written:
    ``path``, or :func:`default_cache_path`.  The build holds the lock file
    ``.<name>.lock`` beside ``path``: another process building the same file
    meanwhile is a LockError (or, with ``wait``, waited for).  Write failures
    are a FileError naming the path and the cause; so is an explicit ``path``
    holding a file that is not a refrnn cache (it is never replaced).
    """
    s = cache_settings(task_set, trials_per_task, seed, test_trials_per_task=test_trials_per_task,
                       compat=compat, dt=dt, task_seed=task_seed)
    if path is not None:
        check_replaceable(path, "a refrnn trial cache", is_cache_file)
    check_cache_fits(s)  # TooLarge (a ValueError) before anything is generated
    path = Path(path) if path is not None else L.default_cache_dir() / L.cache_file_name(s)
    with hold_lock(L.lock_path(path), f"trial cache {path}", wait=wait, on_stale=notice):
        return _write_cache(s, path)


def _write_cache(s: dict, path: Path) -> Path:
    from ..tasks.registry import get_task
    counts = {"train": s["trials_per_task"], "test": s["test_trials_per_task"]}
    tasks = [get_task(name, dt=s["dt"], compat=s["compat"], seed=s["task_seed"])
             for name in s["task_names"]]

    def fill(f):  # task by task: one task's trials at a time besides the (compressed) file
        write_trials(f, s, {})
        for split in SPLITS:
            for task in tasks:
                tb = task.generate(counts[split], _task_rng(s["seed"], split, task.name))
                _write_batch(f.create_group(f"{split}/{task.name}"), tb)

    return write_sealed_h5(path, fill)  # checked on every open (files/sealed_h5)


def _fail(path, what, todo="delete it and rebuild it (refrnn cache ...)"):
    err = CacheError(f"trial cache {path}: {what}; {todo}")
    err.what = what  # for the rebuild notice, which needs no advice
    raise err


class TrialCache:
    """A checked cache file.  ``split(name)`` loads the trials on first use.

    Attributes: path, settings (dict), task_names (list, one-hot order).
    """

    def __init__(self, path: Path, settings: dict):
        self.path = Path(path)
        self.settings = settings
        self.task_names = list(settings["task_names"])
        self._loaded = {}

    def split(self, name: str) -> dict:
        """dict task -> TrialBatch (labels int64) for split "train" or "test"."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name not in self._loaded:
            try:
                with open_h5(self.path) as f:
                    self._loaded[name] = {t: _read_batch(f[f"{name}/{t}"], t)
                                          for t in self.task_names}
            except H5_DAMAGE as e:  # fletcher32 / zlib / B-tree damage land here
                _fail(self.path, f"reading split {name!r} failed ({damage_text(e)})")
        return self._loaded[name]


def _read_batch(g: h5py.Group, task: str) -> TrialBatch:
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


def _check_settings(path, f: h5py.File) -> dict:
    if f.attrs.get("refrnn_cache_format") != L.FORMAT_VERSION:
        _fail(path, f"not a refrnn cache of format {L.FORMAT_VERSION}")
    try:
        s = json.loads(f.attrs["settings"])
        each = {k: json.loads(f.attrs[k]) for k in s}
    except (KeyError, ValueError, TypeError) as e:
        _fail(path, f"settings attributes unreadable ({e})")
    if L.settings_hash(s) != f.attrs.get("settings_sha256") or each != s:
        _fail(path, "settings attributes were altered (checksum mismatch)")
    if s["task_code_version"] != TASK_CODE_VERSION:
        _fail(path, f"written by task code version {s['task_code_version']}, "
                    f"this refrnn has {TASK_CODE_VERSION}")
    return s


def _check_sizes(path, f: h5py.File, s: dict):
    counts = {"train": s["trials_per_task"], "test": s["test_trials_per_task"]}
    for split in SPLITS:
        for t in s["task_names"]:
            g = f.get(f"{split}/{t}")
            if g is None or any(k not in g for k in _ARRAYS):
                _fail(path, f"group {split}/{t} is missing or incomplete")
            n, n_steps = int(g.attrs["n_trials"]), int(g.attrs["n_steps"])
            p = len(json.loads(g.attrs["period_names"]))
            want = {"obs": (n_steps, N_OBS), "labels": (n_steps,), "noise": (n_steps,),
                    "offsets": (n + 1,), "bounds": (n, p + 1)}
            bad = [k for k, shp in want.items() if g[k].shape != shp]
            if n != counts[split] or bad:
                _fail(path, f"group {split}/{t} has wrong sizes ({bad or 'n_trials'})")


def open_cache(path, expect=None) -> TrialCache:
    """Open and check a cache file (attributes and sizes; data on first read).

    ``expect``: optional dict of settings (keys of :func:`cache_settings`) the
    file must have.  Raises CacheError naming the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        _fail(path, "no such file", "build it with `refrnn cache` or build_cache()")
    try:
        with open_h5(path) as f:
            s = _check_settings(path, f)
            _check_sizes(path, f, s)
    except CacheError:
        raise
    except H5_DAMAGE as e:
        raise_os_cause(e, path)
        _fail(path, f"unreadable, truncated, damaged or not HDF5 ({damage_text(e)})")
    for k, v in (expect or {}).items():
        if k not in s:
            raise ValueError(f"unknown cache setting {k!r} in expect")
        if s[k] != v:
            _fail(path, f"written with {k}={s[k]!r} but {k}={v!r} was asked for",
                  "use a cache built with these settings")
    return TrialCache(path, s)


def verify_cache(path) -> dict:
    """Check attributes, sizes and every dataset's sha256; CacheError if any fail.

    Returns {"datasets": number checked, "bytes": raw bytes hashed}.
    """
    open_cache(path)
    n, nbytes, bad = 0, 0, []

    def visit(name, obj):
        nonlocal n, nbytes
        if isinstance(obj, h5py.Dataset):
            try:
                ok = array_sha256(obj[()]) == obj.attrs.get("sha256")
            except H5_DAMAGE:
                ok = False
            n, nbytes = n + 1, nbytes + obj.size * obj.dtype.itemsize
            if not ok:
                bad.append(name)

    try:
        with open_h5(path) as f:
            f.visititems(visit)
    except H5_DAMAGE as e:  # structural damage: h5py raises RuntimeError mid-walk
        _fail(path, f"damaged ({damage_text(e)})")
    if bad:
        _fail(path, f"{len(bad)} dataset(s) fail their checksum: {', '.join(bad[:5])}")
    return {"datasets": n, "bytes": nbytes}


def get_or_build_cache(task_set, trials_per_task, seed, *, test_trials_per_task=None,
                       compat=None, dt=100, task_seed=0, cache_dir=None) -> TrialCache:
    """Open the default cache for these settings, building it when missing.

    An invalid default cache (truncated, altered, older task code) is rebuilt
    with a one-line RefrnnNotice; where the folder is read-only that raises
    CacheError.  Processes asking for the same cache at once build it once:
    the others wait for the build's lock, then open the result.
    """
    kw = dict(test_trials_per_task=test_trials_per_task, compat=compat, dt=dt,
              task_seed=task_seed)
    path = default_cache_path(task_set, trials_per_task, seed, cache_dir=cache_dir, **kw)
    expect = cache_settings(task_set, trials_per_task, seed, **kw)
    check_cache_fits(expect)
    existed = path.exists()
    if existed:
        try:
            return _checked(path, expect)
        except CacheError as e:
            notice(f"trial cache {path}: {getattr(e, 'what', e)}; rebuilding it")
    try:
        with hold_lock(L.lock_path(path), f"trial cache {path}", wait=True, on_stale=notice):
            if not existed and path.exists():  # built by another process meanwhile
                return _checked(path, expect)
            _write_cache(expect, path)
    except FileError as e:
        _fail(path, f"cannot be written ({e})", f"set {L.ENV_CACHE_DIR} to a writable folder")
    return open_cache(path, expect=expect)


def _checked(path, expect) -> TrialCache:
    cache = open_cache(path, expect=expect)
    for split in SPLITS:  # reads every chunk: fletcher32 catches flips
        cache.split(split)
    return cache
