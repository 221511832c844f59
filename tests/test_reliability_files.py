"""Files refrnn cannot write or read end in one line, exit 1, nothing half-written.

Tests may run as root, where chmod does not stop writes: unwritable paths are
made with a path under a regular file (ENOTDIR, for every user) and with a
monkeypatched writer (EROFS, ENOSPC); a real 700 KB tmpfs is used as the full
disk where this process may mount one.
"""
import errno
import os
import shutil
import subprocess
import sys

import h5py
import pytest

from cli_helpers import TINY, invoke, train_tiny
from refrnn.files import atomic
from refrnn.data.cache import CacheError, build_cache, open_cache, verify_cache
from refrnn.run.checkpoint import CheckpointError, load_checkpoint
from refrnn.files.errors import FileError





@pytest.fixture(scope="module")
def done_run(tmp_path_factory, cache_file):
    return train_tiny(tmp_path_factory.mktemp("runs") / "done", cache_file)




def one_line_error(res, *words, code=1):
    """The command failed with exactly one 'Error:' line holding ``words``, no traceback."""
    assert res.exit_code == code, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1, res.output
    for w in words:
        assert w in err[0], err[0]
    return err[0]


def test_paths_under_a_regular_file(tmp_path, cache_file, done_run):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    under = afile / "x"
    one_line_error(invoke("train", *TINY, "--cache-path", cache_file, "--out", under),
                   str(under), "not a directory")
    res = invoke("eval", done_run, "--csv", under / "e.csv")
    one_line_error(res, "e.csv", "not a directory")
    assert "mean" not in res.output  # refused before evaluating, not after the table
    one_line_error(invoke("mask", "--plot", under / "m.png"), "m.png", "not a directory")
    one_line_error(invoke("plot", done_run, "--out", under / "p"), "p_curves.png",
                   "not a directory")
    one_line_error(invoke("cache", "--task-set", "yang19", "--trials-per-task", "2",
                          "--out", under / "c.h5"), "c.h5", "not a directory")
    assert afile.read_text() == "not a folder"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_train_into_proc(cache_file):
    one_line_error(invoke("train", *TINY, "--cache-path", cache_file, "--out", "/proc/refrnn-x"),
                   "/proc/refrnn-x")


def test_mask_plot_unknown_extension(tmp_path):
    one_line_error(invoke("mask", "--plot", tmp_path / "m.xyz"), ".xyz", "--plot", code=2)
    assert list(tmp_path.iterdir()) == []


def _fail_writes(monkeypatch, code, after=0):
    """Make atomic writes fail with ``code`` after ``after`` successful ones."""
    real_open, seen = open, []

    def fake_open(path, mode="r", *a, **k):
        if "w" in mode and ".tmp" in os.path.basename(str(path)):
            seen.append(path)
            if len(seen) > after:
                raise OSError(code, os.strerror(code), str(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)
    return seen


def test_eval_in_read_only_run_dir(done_run, monkeypatch):
    before = (done_run / "eval.csv").read_bytes()
    monkeypatch.setattr(atomic.tempfile, "mkstemp", _raise(errno.EROFS))
    import refrnn.files.errors as fe
    monkeypatch.setattr(fe.tempfile, "mkstemp", _raise(errno.EROFS))
    res = invoke("eval", done_run, "--checkpoint", "last")
    line = one_line_error(res, "eval.csv", "read-only file system", "--csv")
    assert "mean" not in res.output, line
    assert (done_run / "eval.csv").read_bytes() == before


def _raise(code):
    def f(*a, **k):
        raise OSError(code, os.strerror(code))
    return f


def _tiny_run(out, cache_file, **kw):
    from refrnn.run.training import train
    return train(out=str(out), quiet=True, cache_path=cache_file, hidden=16, sparsity=0.25,
                 batch_size=4, seq_len=40, trials_per_task=8, eval_trials=3, seed=3,
                 **dict(dict(steps=12, eval_every=4, checkpoint_every=4), **kw))


def test_disk_full_mid_run_stops_cleanly_and_resumes_bit_identical(tmp_path, cache_file,
                                                                   monkeypatch):
    ref = _tiny_run(tmp_path / "ref", cache_file)
    out = tmp_path / "run"
    # writes at the start: config.json, metrics.csv, its step-0 row, best.h5,
    # last.h5; the 6th (step 4's metrics row) hits the full disk
    _fail_writes(monkeypatch, errno.ENOSPC, after=5)
    with pytest.raises(FileError) as e:
        _tiny_run(out, cache_file)
    msg = str(e.value)
    assert "no space left on the device" in msg and "--resume" in msg, msg
    assert "stopped at step 4" in msg and "(step 0) is kept" in msg, msg
    assert "\n" not in msg
    assert load_checkpoint(out / "last.h5").step == 0  # the last good one, readable
    assert not [p for p in out.iterdir() if ".tmp" in p.name or p.name.endswith(".lock")]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0"]  # whole rows only
    monkeypatch.undo()
    r = _tiny_run(out, cache_file, resume=True)
    a, b = load_checkpoint(ref.out / "last.h5"), load_checkpoint(r.out / "last.h5")
    assert r.step == 12 and all(a.params[k].tobytes() == b.params[k].tobytes() for k in a.params)


def test_disk_full_at_the_cli(tmp_path, cache_file, monkeypatch):
    _fail_writes(monkeypatch, errno.ENOSPC, after=5)
    out = tmp_path / "run"
    res = invoke("train", *TINY, "--cache-path", cache_file, "--out", out, "-q")
    one_line_error(res, "no space left", f"refrnn train --out {out} --resume")


def _can_mount_tmpfs(where):
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(where)],
                       capture_output=True)
    return r.returncode == 0


def test_real_full_tmpfs(tmp_path, cache_file):
    """The issue's case: a 700 KB tmpfs as --out, N=256 checkpoints (about 290 KB each)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_tmpfs(disk):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        out = disk / "run"
        code = ("import sys; from refrnn_cli.main import cli; sys.argv[0] = 'refrnn'; cli()")
        args = ["train", *TINY, "--hidden", "256", "--sparsity", "0.04", "--steps", "60",
                "--eval-every", "20",
                "--cache-path", cache_file, "--out", str(out), "-q"]
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.dirname(__file__)), timeout=300)
        text = r.stdout + r.stderr
        assert r.returncode == 1, text
        assert "Traceback" not in text and "Exception ignored" not in text, text
        assert "no space left on the device" in text and "--resume" in text, text
        assert load_checkpoint(out / "last.h5").step >= 0
        assert not [p for p in out.iterdir() if ".tmp" in p.name]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _damaged_copies(src, tmp_path, n):
    """Copies of ``src`` with 64 bytes overwritten at ``n`` evenly spaced offsets."""
    data = src.read_bytes()
    for i in range(n):
        off = len(data) * i // n
        p = tmp_path / f"d{i}{src.suffix}"
        p.write_bytes(data[:off] + b"\xff" * 64 + data[off + 64:])
        yield p


def test_cache_damage_anywhere_is_reported_as_damage(tmp_path, monkeypatch):
    """64 bytes overwritten at 40 offsets of a small cache (the stand-in tasks of
    test_cache.py keep it small): every damaged copy is a CacheError for the
    library and one clean line from `refrnn cache --verify`."""
    from pathlib import Path

    from test_cache import install_fake_registry
    install_fake_registry(monkeypatch)
    src = build_cache("fake", 10, 0, eval_trials=2, path=tmp_path / "c.h5")
    kinds = []
    for p in _damaged_copies(Path(src), tmp_path, 40):
        try:
            verify_cache(p)
            c = open_cache(p)
            c.split("train"), c.split("test")
            kinds.append("ok")
        except CacheError as e:
            kinds.append("structural" if "RuntimeError" in str(e) else "damaged")
            res = invoke("cache", "--verify", p)
            assert res.exit_code == 1 and "Traceback" not in res.output, res.output
            assert isinstance(res.exception, SystemExit), res.exception
            assert res.output.startswith("FAILED: trial cache"), res.output
        p.unlink()
    # every damaged copy is refused by its seal before libhdf5 parses it, so
    # B-tree damage (h5py's RuntimeError, once a hang or a traceback) no longer arises
    assert set(kinds) == {"damaged"}, kinds


def test_checkpoint_damage_anywhere_is_reported_as_damage(tmp_path, done_run):
    bad = 0
    for p in _damaged_copies(done_run / "last.h5", tmp_path, 40):
        try:
            load_checkpoint(p)
        except CheckpointError as e:
            bad += 1
            assert "\n" not in str(e)
        p.unlink()
    assert bad > 0


def test_damaged_default_cache_notice_is_one_clean_line(tmp_path, monkeypatch):
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cd"))
    args = [*TINY, "--steps", "3", "--eval-every", "3"]
    assert invoke("train", *args, "--out", tmp_path / "a", "-q").exit_code == 0
    (cached,) = (tmp_path / "cd").glob("*.h5")
    cached.write_bytes(cached.read_bytes()[:5000])  # truncated
    res = invoke("train", *args, "--out", tmp_path / "b", "-q")
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if "rebuilding" in line]
    assert len(notes) == 1 and notes[0].startswith("note: trial cache "), res.output
    assert "RuntimeWarning" not in res.output and "warnings.warn" not in res.output
    assert "delete it" not in notes[0]  # no advice to do what refrnn just did
    with h5py.File(cached, "r") as f:  # rebuilt whole
        assert "train" in f


def test_dt_that_does_not_divide_the_periods_is_refused(tmp_path, cache_file):
    res = invoke("train", *TINY, "--dt", "30", "--out", tmp_path / "r")
    line = one_line_error(res, "--dt", "480 ms", "20, 25, 50, 100", code=2)
    assert not (tmp_path / "r").exists(), line
    one_line_error(invoke("cache", "--task-set", "yang19", "--dt", "30", "--out",
                          tmp_path / "c.h5"), "--dt", code=2)
    from refrnn.run.settings import check_task_dt
    from refrnn.run.settings import TrainConfig
    check_task_dt(TrainConfig(dt=20, task_set="modcog").resolved())  # Yang 2019's dt
    check_task_dt(TrainConfig(dt=100, task_set="modcog", compat="modcog-2023").resolved())


def test_garbage_cache_file_is_one_line_and_leaves_no_run_folder(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(bytes(range(256)) * 16)
    out = tmp_path / "runs" / "r"
    line = one_line_error(invoke("train", *TINY, "--cache-path", garbage, "--out", out),
                          "garbage.h5", "not HDF5")
    assert not out.exists(), line  # the failed start left no empty run folder
    assert garbage.read_bytes() == bytes(range(256)) * 16


@pytest.mark.parametrize("after", [3, 4])  # the 4th write is best.h5, the 5th last.h5
def test_disk_full_before_the_first_checkpoint_says_start_again(tmp_path, cache_file,
                                                               monkeypatch, after):
    """No last.h5 was written: the message must not offer --resume (which would
    then say there is nothing to resume) nor name a checkpoint 'of step -1'."""
    out = tmp_path / "run"
    _fail_writes(monkeypatch, errno.ENOSPC, after=after)
    with pytest.raises(FileError) as e:
        _tiny_run(out, cache_file)
    msg = str(e.value)
    assert "no space left on the device" in msg and "stopped at step 0" in msg, msg
    assert "step -1" not in msg and "resume" not in msg and "force=True" in msg, msg
    assert not (out / "last.h5").exists()
    _fail_writes(monkeypatch, errno.ENOSPC, after=after)  # counts afresh
    res = invoke("train", *TINY, "--cache-path", cache_file, "--out", tmp_path / "cli", "-q")
    line = one_line_error(res, "no space left", "with --force, which replaces")
    assert "--resume" not in line and "(--force)" not in line, line
    monkeypatch.undo()  # the advice works
    assert _tiny_run(out, cache_file, force=True).step == 12


def test_a_failed_write_removes_the_folders_it_made(tmp_path, monkeypatch):
    _fail_writes(monkeypatch, errno.ENOSPC)
    with pytest.raises(FileError, match="no space left"):
        atomic.atomic_write_text(tmp_path / "new" / "deeper" / "t.csv", "a,b\n")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder that was there stays
    with pytest.raises(FileError):
        atomic.atomic_write_text(tmp_path / "kept" / "t.csv", "a,b\n")
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
