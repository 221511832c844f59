"""Trial cache: round trip, determinism, naming, and every failure mode.

The core runs against a small stand-in task registry (fake tasks that make
random ragged trials from the Generator they get), so these tests do not
depend on the real task code; tests/test_cache_tasks.py uses the real one.
"""
import json
import multiprocessing
import os
import sys
import types

import h5py
import numpy as np
import pytest

from refrnn.data import cache as C
from refrnn.data.cache import CacheError
from refrnn.files.sealed_h5 import reseal_file
from refrnn.tasks.trials import TrialBatch

FAKE_TASKS = ["alpha", "beta", "gamma"]


class FakeTask:
    def __init__(self, name, dt=100, compat=None, seed=0):
        self.name, self.dt, self.compat, self.seed = name, dt, compat, seed

    def generate(self, n, rng):
        lengths = rng.integers(3, 12, n)
        off = np.concatenate([[0], np.cumsum(lengths)])
        s = int(off[-1])
        obs = rng.random((s, 33), dtype=np.float32) * (1 + (self.compat is not None) + self.seed)
        bounds = np.stack([np.zeros(n, np.int64), lengths // 2, lengths], 1)
        return TrialBatch(self.name, obs, rng.integers(0, 17, s),
                          rng.integers(0, 4, s).astype(np.uint8), off, bounds,
                          ("stimulus", "decision"),
                          {"ground_truth": rng.integers(0, 16, n), "coh": rng.random(n)})


def fake_registry_module():
    mod = types.ModuleType("refrnn.tasks.registry")

    def task_names(task_set):
        if task_set != "fake":
            raise ValueError(f"unknown task set {task_set!r}")
        return list(FAKE_TASKS)

    mod.task_names = task_names
    mod.get_task = lambda name, dt=100, compat=None, seed=0: FakeTask(name, dt, compat, seed)
    return mod


def install_fake_registry(monkeypatch):
    """Give refrnn.data.cache the stand-in registry's task_names and get_task."""
    reg = fake_registry_module()
    monkeypatch.setattr(C, "task_names", reg.task_names)
    monkeypatch.setattr(C, "get_task", reg.get_task)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Stand-in registry, and a private default cache folder."""
    install_fake_registry(monkeypatch)
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cachedir"))
    return tmp_path


def build(tmp, name="c.h5", **kw):
    args = dict(task_set="fake", trials_per_task=20, seed=3)
    args.update(kw)
    return C.build_cache(args.pop("task_set"), args.pop("trials_per_task"),
                         args.pop("seed"), path=tmp / name, **args)


def assert_same(a: TrialBatch, b: TrialBatch):
    for k in ("obs", "labels", "noise", "offsets", "bounds"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert a.period_names == b.period_names
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_round_trip_matches_generator(fake):
    path = build(fake, eval_trials=5)
    cache = C.open_cache(path)
    assert cache.task_names == FAKE_TASKS
    assert cache.settings["seed"] == 3 and cache.settings["test_trials_per_task"] == 5
    assert cache.settings["task_code_version"] == C.TASK_CODE_VERSION
    train, test = cache.split("train"), cache.split("test")
    for t in FAKE_TASKS:
        want = FakeTask(t).generate(20, C.task_rng(3, "train", t))
        assert_same(train[t], want)
        assert train[t].labels.dtype == np.int64 and train[t].obs.dtype == np.float32
        assert test[t].n_trials == 5
    with pytest.raises(ValueError, match="split"):
        cache.split("validation")


def test_determinism_and_test_split_fixed_by_seed(fake):
    a = C.open_cache(build(fake, "a.h5", eval_trials=4))
    b = C.open_cache(build(fake, "b.h5", eval_trials=4))
    bigger = C.open_cache(build(fake, "c.h5", trials_per_task=30, eval_trials=4))
    other = C.open_cache(build(fake, "d.h5", seed=4, eval_trials=4))
    task_seeded = C.open_cache(build(fake, "e.h5", task_seed=1, eval_trials=4))
    for t in FAKE_TASKS:
        assert_same(a.split("train")[t], b.split("train")[t])
        assert_same(a.split("test")[t], bigger.split("test")[t])
        assert not np.array_equal(a.split("test")[t].obs[:10], other.split("test")[t].obs[:10])
        np.testing.assert_array_equal(2 * a.split("test")[t].obs,  # task_seed reaches get_task
                                      task_seeded.split("test")[t].obs)
        # train and test come from independent streams
        assert not np.array_equal(a.split("train")[t].obs[:10], a.split("test")[t].obs[:10])


def test_default_test_count_and_bad_settings(fake):
    assert C.cache_settings("fake", 95, 0)["test_trials_per_task"] == 9
    assert C.cache_settings("fake", 5, 0)["test_trials_per_task"] == 1
    for bad in [dict(trials_per_task=0), dict(seed=-1), dict(trials_per_task="9"),
                dict(eval_trials=0), dict(dt=0), dict(seed=True),
                dict(task_seed=-2)]:
        args = dict(task_set="fake", trials_per_task=10, seed=0)
        args.update(bad)
        with pytest.raises(ValueError):
            C.cache_settings(args.pop("task_set"), args.pop("trials_per_task"),
                             args.pop("seed"), **args)
    with pytest.raises(ValueError, match="nope"):
        C.cache_settings("nope", 10, 0)


def test_default_path_depends_on_every_setting(fake):
    base = C.default_cache_path("fake", 10, 0)
    assert base.parent == fake / "cachedir" and base.suffix == ".h5"
    assert C.default_cache_path("fake", 10, 0) == base
    variants = [C.default_cache_path("fake", 11, 0), C.default_cache_path("fake", 10, 1),
                C.default_cache_path("fake", 10, 0, compat="modcog-2023"),
                C.default_cache_path("fake", 10, 0, dt=20),
                C.default_cache_path("fake", 10, 0, eval_trials=7),
                C.default_cache_path("fake", 10, 0, task_seed=1)]
    assert len({base, *variants}) == 7


def test_default_dir_env_fallbacks(monkeypatch, tmp_path):
    from refrnn.data.cache_file import default_cache_dir
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("REFRNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "refrnn"


def test_truncated_file(fake):
    path = build(fake)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match=f"{path}.*rebuild"):  # refrnn's own: rebuild it
        C.open_cache(path)
    with pytest.raises(CacheError, match="no such file"):
        C.open_cache(fake / "missing.h5")
    path.write_bytes(b"not hdf5 at all")  # not refrnn's: never advised to delete it
    with pytest.raises(CacheError, match="it is not a refrnn trial cache: check the path"):
        C.open_cache(path)


def _flip_chunk_byte(path, name):
    with h5py.File(path, "r") as f:
        info = f[name].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0xFF]))


def test_flipped_bytes_are_caught(fake):
    path = build(fake)
    C.verify_cache(path)
    _flip_chunk_byte(path, "train/beta/obs")
    with pytest.raises(CacheError, match="SHA-256 mismatch"):  # the file's seal
        C.open_cache(path)
    reseal_file(path)  # behind the seal: fletcher32 and the per-dataset sha256
    cache = C.open_cache(path)  # metadata intact: open passes, reads must fail
    with pytest.raises(CacheError, match="train"):
        cache.split("train")
    with pytest.raises(CacheError, match="train/beta/obs"):
        C.verify_cache(path)


def test_rewritten_data_fails_sha256(fake):
    path = build(fake)
    with h5py.File(path, "r+") as f:  # a valid HDF5 write the checksum attr does not know
        f["test/gamma/labels"][0] = (f["test/gamma/labels"][0] + 1) % 17
    reseal_file(path)
    C.open_cache(path)
    with pytest.raises(CacheError, match="test/gamma/labels"):
        C.verify_cache(path)
    with h5py.File(path, "r+") as f:  # inconsistent trial boundaries: caught on load
        f["train/alpha/offsets"][1] += 1
    reseal_file(path)
    with pytest.raises(CacheError, match="offsets"):
        C.open_cache(path).split("train")


@pytest.mark.parametrize("key,value", [("seed", json.dumps(99)),
                                       ("settings", '{"seed": 99}'),
                                       ("refrnn_cache_format", 7)])
def test_changed_attribute(fake, key, value):
    path = build(fake)
    with h5py.File(path, "r+") as f:
        f.attrs[key] = value
    with pytest.raises(CacheError, match=str(path)):
        C.open_cache(path)


def test_expect_mismatch_and_sizes(fake):
    path = build(fake)
    C.open_cache(path, expect={"seed": 3, "task_set": "fake"})
    with pytest.raises(CacheError, match="seed=3"):
        C.open_cache(path, expect={"seed": 4})
    with pytest.raises(ValueError, match="colour"):
        C.open_cache(path, expect={"colour": 1})
    with h5py.File(path, "r+") as f:
        del f["test/alpha/bounds"]
    reseal_file(path)
    with pytest.raises(CacheError, match="test/alpha"):
        C.open_cache(path)


def test_task_code_version_mismatch(fake, monkeypatch):
    path = build(fake)
    from refrnn.data import cache_file  # the layout's reader checks the version

    monkeypatch.setattr(cache_file, "TASK_CODE_VERSION", cache_file.TASK_CODE_VERSION + 1)
    with pytest.raises(CacheError, match="task code version"):
        C.open_cache(path)


def _race_worker(path, barrier):
    from refrnn.files.locks import LockError
    barrier.wait()
    try:
        build(path.parent, path.name)
    except LockError as e:
        assert "is in use by" in str(e)  # "pid N on host H", or "another process" before it wrote them
        sys.exit(3)


def test_two_writers_race(fake):
    """Builders racing on one path: the cache's lock lets one write at a time;
    the others get LockError (exit 3 here) or build after it. One complete
    file, no temporary or lock file left."""
    ctx = multiprocessing.get_context("fork")  # children inherit the stand-in registry
    path = fake / "race.h5"
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_race_worker, args=(path, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    codes = [p.exitcode for p in procs]
    assert 0 in codes and set(codes) <= {0, 3}, codes
    assert C.verify_cache(path)["datasets"] > 0
    assert sorted(os.listdir(fake)) == ["race.h5"]  # no temporary files left


def test_failed_write_leaves_nothing(fake):
    from refrnn.files.atomic import atomic_write_h5

    def boom(f):
        f.create_dataset("x", data=np.arange(3))
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write_h5(fake / "out" / "f.h5", boom)
    # the file is built in memory first: nothing at all reached the folder
    assert not (fake / "out").exists() or os.listdir(fake / "out") == []


def test_read_only_folder(fake):
    ro = fake / "ro"
    ro.mkdir()
    path = build(ro)
    os.chmod(path, 0o444)
    os.chmod(ro, 0o555)
    try:
        cache = C.open_cache(path)
        assert cache.split("test")["alpha"].n_trials == 2
        C.verify_cache(path)
    finally:
        os.chmod(ro, 0o755)


def test_get_or_build_builds_reuses_and_repairs(fake, monkeypatch):
    calls = []
    real_build, real_write = C.build_cache, C._write_cache
    monkeypatch.setattr(C, "_write_cache", lambda *a, **k: calls.append(1) or real_write(*a, **k))
    c1 = C.get_or_build_cache("fake", 10, 1)
    c2 = C.get_or_build_cache("fake", 10, 1)
    assert len(calls) == 1 and c1.path == c2.path
    assert c1.path.parent == fake / "cachedir"
    _flip_chunk_byte(c1.path, "train/alpha/obs")
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        c3 = C.get_or_build_cache("fake", 10, 1)
    assert len(calls) == 2
    data = c3.path.read_bytes()
    c3.path.write_bytes(data[:1000])  # truncated default cache: rebuilt too
    with pytest.warns(RuntimeWarning, match="truncated"):
        C.get_or_build_cache("fake", 10, 1)
    assert len(calls) == 3
    assert_same(c3.split("train")["alpha"], C.open_cache(real_build(
        "fake", 10, 1, path=fake / "fresh.h5")).split("train")["alpha"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_get_or_build_read_only_folder_errors(fake, monkeypatch):
    ro = fake / "ro2"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        with pytest.raises(CacheError, match="REFRNN_CACHE_DIR"):
            C.get_or_build_cache("fake", 10, 1, cache_dir=ro)
    finally:
        os.chmod(ro, 0o755)
