"""Runs that tell the truth: resume, locks on run directories and caches, logs."""
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from cli_helpers import invoke
from refrnn.data.cache import build_cache, get_or_build_cache
from refrnn.data.cache_file import lock_path
from refrnn.run.settings import ConfigError
from refrnn.files.locks import RUN_LOCK, LockError, hold_lock
from refrnn.run.training import train

TINY = ["--hidden", "16", "--sparsity", "0.25", "--batch-size", "4", "--seq-len", "40",
        "--eval-every", "4", "--trials-per-task", "8", "--eval-trials", "3"]
KW = dict(hidden=16, sparsity=0.25, batch_size=4, seq_len=40, eval_every=4,
          trials_per_task=8, eval_trials=3, seed=3)

HOLDER = """
import sys, time
from refrnn.files.locks import hold_lock
with hold_lock(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(60)
"""






def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_resume_with_nothing_to_resume_touches_nothing(tmp_path, cache_file):
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match="nothing to resume.*does not exist"):
        train(out=str(missing), resume=True, quiet=True, steps=4, cache_path=cache_file, **KW)
    assert not missing.exists()
    partial = tmp_path / "partial"  # a run that died before its first checkpoint
    partial.mkdir()
    (partial / "metrics.csv").write_text("step,loss\n")
    (partial / "best.h5").write_bytes(b"keep me")
    before = digest(partial)
    res = invoke("train", *TINY, "--steps", 4, "--cache-path", cache_file, "--out", partial,
                 "--resume")
    assert res.exit_code == 2 and "nothing to resume" in res.output, res.output
    assert "--force" in res.output
    assert digest(partial) == before and not (partial / RUN_LOCK).exists()


def test_resume_says_where_it_starts_and_refuses_to_go_back(tmp_path, cache_file):
    out = tmp_path / "run"
    assert invoke("train", *TINY, "--steps", 8, "--cache-path", cache_file, "--out", out,
                  "-q").exit_code == 0
    res = invoke("train", "--out", out, "--resume", "--steps", 12)
    assert res.exit_code == 0, res.output
    assert "resuming from step 8 of 12" in res.output
    steps = re.findall(r"^step (\d+)/12 ", res.output, re.M)
    assert steps == ["12"], res.output  # progress counts the remaining steps, ends at 12/12
    before = digest(out)
    res = invoke("train", "--out", out, "--resume", "--steps", 6)
    assert res.exit_code == 2 and "already at step 12, past steps=6" in res.output, res.output
    assert digest(out) == before
    res = invoke("train", "--out", out, "--resume", "--steps", 12)
    assert res.exit_code == 0 and "already at step 12 of 12: nothing to train" in res.output
    assert "mean" in res.output  # the table still prints


def test_progress_bar_spans_the_remaining_steps():
    import io
    from refrnn.run.progress import Progress, status
    from refrnn.run.settings import TrainConfig
    info = dict(step=13, steps=20, start=12, loss=1.0, mean_loss=1.5, mean_perf=0.5,
                seconds=3.0, eta=21.0)
    p = Progress(TrainConfig(steps=20, eval_every=4), stream=io.StringIO())
    p.tty = True
    p.begin(12)
    p.update(info)
    assert p.span == 8 and p.done - p.first == 1
    assert status(13, 20, 1.5, 0.5) == "step 13/20  loss 1.5000  perf 0.500"
    assert "step 13/20  loss 1.5000  perf 0.500" in p.stream.getvalue()


def test_console_loss_is_the_csv_loss_and_piped_output_has_an_eta(tmp_path, cache_file):
    out = tmp_path / "run"
    res = invoke("train", *TINY, "--steps", 12, "--cache-path", cache_file, "--out", out)
    assert res.exit_code == 0, res.output
    shown = re.findall(r"^step (\d+)/12  loss (\S+)  perf \S+  \(\d+ s(, ETA [^)]+)?\)$",
                       res.output, re.M)
    assert [s[0] for s in shown] == ["4", "8", "12"], res.output
    assert all(s[2].startswith(", ETA ") for s in shown), res.output
    rows = (out / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    logged = {r.split(",")[0]: r.split(",")[header.index("loss")] for r in rows[1:]}
    for step, loss, _ in shown:
        assert loss == f"{float(logged[step]):.4f}", (step, loss, logged[step])


def test_python_api_prints_no_nan_loss_at_step_0(tmp_path, cache_file, capsys):
    train(out=str(tmp_path / "r"), steps=4, cache_path=cache_file, **KW)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training yang19: N=16 "), lines
    assert lines[1].startswith("untrained: perf "), lines  # step 0: no loss yet, none shown
    assert lines[2].startswith("step 4/4  loss "), lines
    assert "nan" not in "\n".join(lines[1:])  # (the first line names the folder: "..._nan_...")


def test_python_api_prints_what_the_cli_prints(tmp_path, cache_file, capsys):
    """One progress printer: refrnn.train(quiet=False) and `refrnn train` say the same."""
    train(out=str(tmp_path / "py"), steps=8, cache_path=cache_file, **KW)
    py = capsys.readouterr().out
    res = invoke("train", *TINY, "--seed", "3", "--steps", 8, "--cache-path", cache_file,
                 "--out", tmp_path / "cli")
    assert res.exit_code == 0, res.output

    def shape(text):  # times and the folder differ
        return [re.sub(r"\(\d+ s(, ETA [^)]+)?\)|-> \S+", "", line)
                for line in text.splitlines()]
    assert shape(res.output)[:len(shape(py))] == shape(py), (py, res.output)


def _hold_in_child(path):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_writer_of_a_run_directory_is_refused(tmp_path, cache_file):
    out = tmp_path / "run"
    out.mkdir()
    holder = _hold_in_child(out / RUN_LOCK)
    try:
        for extra in ([], ["--force"]):
            res = invoke("train", *TINY, "--steps", 4, "--cache-path", cache_file,
                         "--out", out, *extra)
            assert res.exit_code == 1, res.output
            assert f"is in use by pid {holder.pid}" in res.output, res.output
        assert [p.name for p in out.iterdir()] == [RUN_LOCK]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock file stays behind, stale, and is taken over
    assert json.loads((out / RUN_LOCK).read_text())["pid"] == holder.pid
    with pytest.warns(RuntimeWarning, match=f"stale lock .* pid {holder.pid}"):
        r = train(out=str(out), quiet=True, steps=4, cache_path=cache_file, **KW)
    assert r.step == 4 and not (out / RUN_LOCK).exists()


def test_stale_lock_without_flock_uses_the_pid(tmp_path, monkeypatch):
    import refrnn.files.locks as locks
    monkeypatch.setattr(locks, "fcntl", None)  # e.g. Windows, or no flock on the mount
    path = tmp_path / "x.lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "host": locks.socket.gethostname()}))
    notes = []
    with hold_lock(path, "thing", on_stale=notes.append):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {dead.pid}" in notes[0]
    path.write_text(json.dumps({"pid": os.getpid(), "host": locks.socket.gethostname()}))
    with pytest.raises(LockError, match=f"in use by pid {os.getpid()}"):
        with hold_lock(path, "thing"):
            pass


def test_cache_build_lock(tmp_path, monkeypatch):
    target = tmp_path / "c.h5"
    with hold_lock(lock_path(target), "test"):  # flock: another fd conflicts in-process too
        with pytest.raises(LockError, match="trial cache .* is in use by pid"):
            build_cache("yang19", 2, 0, path=target)
        res = invoke("cache", "--task-set", "yang19", "--trials-per-task", 2, "--out", target)
        assert res.exit_code == 1 and "is in use by pid" in res.output, res.output
    assert not target.exists()
    # the default cache: a second process waits for the first build, then opens it
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cd"))
    from refrnn.data.cache import default_cache_path
    path = default_cache_path("yang19", 2, 0)
    got = {}
    with hold_lock(lock_path(path), "test"):
        t = threading.Thread(target=lambda: got.setdefault("c", get_or_build_cache("yang19", 2, 0)))
        t.start()
        time.sleep(0.5)
        assert t.is_alive() and "c" not in got  # waiting for the lock
        build_cache("yang19", 2, 0, path=tmp_path / "other.h5")  # unrelated path: no wait
    t.join(60)
    assert got["c"].path == path
