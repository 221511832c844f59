"""A sweep's processes (refrnn/experiments/sweep.py, one_run.py): kill -9 of a
sweep leaves no worker training on (it stops, saving last.h5, once its sweep
is gone), a rerun at once waits for that worker's run lock and resumes, and
two sweeps of one folder share the runs: both exit 0 and no finished run is
recorded as failed. Real processes (Linux: the worker is found in /proc)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

CLI = [sys.executable, "-c", "import sys; from refrnn_cli.main import cli; sys.exit(cli())"]


def _sweep_args(out, cache_file, steps, masks=("random",)):
    args = ["sweep", "--hidden", "16", "--steps", str(steps), "--eval-every",
            str(max(1, steps // 3)), "--batch-size", "4", "--out", str(out)]
    for m in masks:
        args += ["--mask", m]
    for kv in ("sparsity=0.25", "seq_len=40", "trials_per_task=8", "eval_trials=3",
               f"cache_path={cache_file}"):
        args += ["--set", kv]
    return args


def _start(args, tmp_path):
    env = dict(os.environ, REFRNN_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, text=True)


def _children(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _workers(pid):
    """The children of ``pid`` that are sweep workers (not a short-lived helper
    process the sweep may start first)."""
    def is_worker(kid):
        try:
            return b"run_worker" in Path(f"/proc/{kid}/cmdline").read_bytes()
        except OSError:
            return False
    return [k for k in _children(pid) if is_worker(k)]


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_for(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _summary(out):
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_kill_9_of_a_sweep_stops_its_worker_and_a_rerun_at_once_finishes(tmp_path, cache_file):
    out = tmp_path / "sw"
    args = _sweep_args(out, cache_file, steps=1500)
    first, rerun, worker = _start(args, tmp_path), None, None
    try:
        _wait_for(lambda: _workers(first.pid), 60, "the worker")
        (worker,) = _workers(first.pid)
        _wait_for(lambda: any(out.glob("random*/metrics.csv")), 90, "training to start")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        rerun = _start(args, tmp_path)  # at once: the worker may still be saving
        # the orphan stops by itself (it would train all 1500 steps otherwise)
        _wait_for(lambda: not _alive(worker), 20, "the orphaned worker to stop")
        text, _ = rerun.communicate(timeout=300)
    finally:  # on failure: nothing of this test keeps running
        for p in (first, rerun):
            if p is not None and p.poll() is None:
                p.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
    assert rerun.returncode == 0, text
    log = next((out / "_logs").glob("random*.log")).read_text()
    assert "stopped: the sweep (pid" in log and "is gone" in log, log
    (row,) = _summary(out)
    assert row["status"] == "done" and row["final_step"] == "1500", row


def test_two_sweeps_of_one_folder_share_the_runs(tmp_path, cache_file):
    out = tmp_path / "sw"
    args = _sweep_args(out, cache_file, steps=300, masks=("random", "ring"))
    a, b = _start(args, tmp_path), _start(args, tmp_path)
    ta, _ = a.communicate(timeout=400)
    tb, _ = b.communicate(timeout=400)
    assert a.returncode == 0 and b.returncode == 0, ta + tb
    assert "FAILED" not in ta + tb and "LockError" not in ta + tb
    rows = _summary(out)
    assert sorted(r["status"] for r in rows) == ["done", "done"], rows
    assert all(r["final_step"] == "300" for r in rows)
    assert not list((out / "_logs").glob("*.failed"))


def test_a_sweep_workers_notices_are_note_lines_in_its_log(tmp_path):
    # e.g. "took over the stale lock ..." after a killed sweep: one line, not
    # Python's warning format with a source path and a code line
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    code = ("import sys, refrnn.experiments.one_run as o; from refrnn.files.notices import notice; "
            "o.train_run = lambda spec: notice('took over the stale lock x'); "
            "sys.exit(o.run_worker(sys.argv[1]))")
    r = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "note: took over the stale lock x\n"
