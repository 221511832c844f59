"""HDF5 trial cache: generate a task set's trials once, read them back fast.

build_cache(...)        generate train and test trials and write one file
open_cache(path)        check attributes and sizes, return a TrialCache
verify_cache(path)      recompute every dataset checksum
get_or_build_cache(...) the default cache (per-user folder): open it, or build
                        it when missing, and rebuild it when it is invalid
load_trials(...)        (train, test, task names) of the cache a run asks for

Train and test trials come from independent child seeds of ``cache_seed``
(``SeedSequence(cache_seed, spawn_key=(split, crc32(task)))``), so the test
split of a task depends only on that seed, the task and ``eval_trials``. The
settings record a cache file stores keeps its own key names, ``seed`` for
cache_seed and ``test_trials_per_task`` for eval_trials, so that every cache
built before still opens.  This module is
the policy (build, reuse, rebuild, lock); the file layout, written and read,
is :mod:`refrnn.data.cache_file`.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np

from . import cache_file as L
from .cache_file import SPLITS, CacheError, cache_error
from .compact import TableBuilder
from .footprint import check_cache_fits
from ..files.checked_h5 import checksum_ok
from ..files.errors import H5_DAMAGE, FileError, damage_text, raise_os_cause
from ..files.locks import hold_lock
from ..files.notices import notice
from ..files.ownership import check_replaceable, h5_with_marker
from ..files.sealed_h5 import open_h5, write_sealed_h5
from ..tasks import TASK_CODE_VERSION
from ..tasks.encoding import check_compat, check_dt
from ..tasks.registry import get_task, task_names
from ..tasks.trials import DEFAULT_DT, check_int

__all__ = ["CacheError", "SPLITS", "TrialCache", "build_cache", "cache_settings",
           "default_cache_path", "get_or_build_cache", "load_trials", "open_cache",
           "task_rng", "verify_cache", "is_cache_file"]

CACHE_MARK = b"refrnn_cache_format"  # the root attribute every cache file has


def is_cache_file(path) -> bool:
    """Whether ``path`` holds a refrnn trial cache (by its bytes; may be damaged)."""
    return h5_with_marker(path, CACHE_MARK)


def cache_settings(task_set, trials_per_task, cache_seed, *, eval_trials=None,
                   compat=None, dt=DEFAULT_DT, task_seed=0) -> dict:
    """Every setting that determines a cache's content, validated.

    ``eval_trials`` (held-out trials per task) defaults to max(1,
    trials_per_task // 10); ``cache_seed`` seeds the trials;
    ``task_seed`` is the task-set seed passed to ``get_task(..., seed=)`` (it
    fixes the per-instance delay of the delayed-match tasks).
    """
    trials_per_task = check_int("trials_per_task", trials_per_task)
    cache_seed, task_seed = check_int("cache_seed", cache_seed, 0), check_int("task_seed", task_seed, 0)
    if eval_trials is None:
        eval_trials = max(1, trials_per_task // 10)
    eval_trials = check_int("eval_trials", eval_trials)
    return {
        "format_version": L.FORMAT_VERSION,
        "task_code_version": TASK_CODE_VERSION,
        "task_set": str(task_set),
        "compat": check_compat(compat),
        "dt": check_dt(dt),
        "seed": int(cache_seed),  # the record's key names: module docstring
        "task_seed": int(task_seed),
        "trials_per_task": int(trials_per_task),
        "test_trials_per_task": int(eval_trials),
        "task_names": list(task_names(task_set)),  # validates task_set
    }


def default_cache_path(task_set, trials_per_task, cache_seed, *, eval_trials=None,
                       compat=None, dt=DEFAULT_DT, task_seed=0, cache_dir=None) -> Path:
    """Where the default cache for these settings lives (named by cache_file.cache_file_name)."""
    s = cache_settings(task_set, trials_per_task, cache_seed, eval_trials=eval_trials,
                       compat=compat, dt=dt, task_seed=task_seed)
    folder = Path(cache_dir) if cache_dir is not None else L.default_cache_dir()
    return folder / L.cache_file_name(s)


def task_rng(cache_seed: int, split: str, task: str) -> np.random.Generator:
    """The generator of one split of one task (see the module docstring)."""
    key = (SPLITS.index(split), zlib.crc32(task.encode()))
    return np.random.default_rng(np.random.SeedSequence(cache_seed, spawn_key=key))


def build_cache(task_set, trials_per_task, cache_seed, *, eval_trials=None,
                compat=None, dt=DEFAULT_DT, task_seed=0, path=None, wait=False) -> Path:
    """Generate every task's train and test trials and write them atomically.

    Settings as in :func:`cache_settings`.  Returns the path written:
    ``path``, or :func:`default_cache_path`.  The build holds the lock file
    ``.<name>.lock`` beside ``path``: another process building the same file
    meanwhile is a LockError (or, with ``wait``, waited for).  Write failures
    are a FileError naming the path and the cause; so is an explicit ``path``
    holding a file that is not a refrnn cache (it is never replaced).
    """
    s = cache_settings(task_set, trials_per_task, cache_seed, eval_trials=eval_trials,
                       compat=compat, dt=dt, task_seed=task_seed)
    if path is not None:
        check_replaceable(path, "a refrnn trial cache", is_cache_file)
    check_cache_fits(s, lookup=(task_names, get_task))  # TooLarge before anything is made
    path = Path(path) if path is not None else L.default_cache_dir() / L.cache_file_name(s)
    with hold_lock(L.lock_path(path), f"trial cache {path}", wait=wait, on_stale=notice):
        return _write_cache(s, path)


def _write_cache(s: dict, path: Path) -> Path:
    counts = {"train": s["trials_per_task"], "test": s["test_trials_per_task"]}
    tasks = [get_task(name, dt=s["dt"], compat=s["compat"], seed=s["task_seed"])
             for name in s["task_names"]]

    def fill(f):  # task by task: one task's trials at a time besides the (compressed) file
        L.write_settings(f, s)
        for split in SPLITS:
            for task in tasks:
                tb = task.generate(counts[split], task_rng(s["seed"], split, task.name))
                L.write_task(f.create_group(f"{split}/{task.name}"), tb)

    return write_sealed_h5(path, fill)  # checked on every open (files/sealed_h5)


def _fail(path, what, todo=None):  # todo: cache_file.cache_error's advice
    raise cache_error(path, what, todo)


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
        """dict task -> CompactTrials for split "train" or "test", all in one
        TrialTable (refrnn.data.compact: 2 bytes a step; read task by task, so
        one task's steps at a time are dense)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name not in self._loaded:
            try:
                with open_h5(self.path) as f:
                    table = TableBuilder(sum(int(f[f"{name}/{t}"].attrs["n_steps"])
                                             for t in self.task_names))
                    for t in self.task_names:
                        table.add(t, L.read_task(f[f"{name}/{t}"], t))
                    self._loaded[name] = table.finish()
            except H5_DAMAGE as e:  # fletcher32 / zlib / B-tree damage land here
                _fail(self.path, f"reading split {name!r} failed ({damage_text(e)})")
        return self._loaded[name]


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
            s = L.read_settings(path, f)
            L.check_sizes(path, f, s)
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
                ok = checksum_ok(obj)
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


def get_or_build_cache(task_set, trials_per_task, cache_seed, *, eval_trials=None,
                       compat=None, dt=DEFAULT_DT, task_seed=0, cache_dir=None) -> TrialCache:
    """Open the default cache for these settings, building it when missing.

    An invalid default cache (truncated, altered, older task code) is rebuilt
    with a one-line RefrnnNotice; where the folder is read-only that raises
    CacheError.  Processes asking for the same cache at once build it once:
    the others wait for the build's lock, then open the result.
    """
    kw = dict(eval_trials=eval_trials, compat=compat, dt=dt, task_seed=task_seed)
    path = default_cache_path(task_set, trials_per_task, cache_seed, cache_dir=cache_dir, **kw)
    expect = cache_settings(task_set, trials_per_task, cache_seed, **kw)
    check_cache_fits(expect, lookup=(task_names, get_task))
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


def load_trials(task_set, trials_per_task, cache_seed, *, path=None, **settings):
    """(train dict, test dict, task names) from the trial cache these settings name.

    Args: as :func:`cache_settings` (``TrainConfig.cache_request()`` gives
    them); ``path`` None: the default cache (:func:`get_or_build_cache`);
    otherwise that file, built first when it does not exist (another process
    building it meanwhile is waited for) and checked against the settings.
    """
    if path is None:
        tc = get_or_build_cache(task_set, trials_per_task, cache_seed, **settings)
    else:
        path = Path(path)
        if not path.exists():
            build_cache(task_set, trials_per_task, cache_seed, path=path, wait=True, **settings)
        tc = open_cache(path, expect=cache_settings(task_set, trials_per_task, cache_seed,
                                                    **settings))
    return tc.split("train"), tc.split("test"), list(tc.task_names)
