"""refrnn sweep on dask.distributed: a real scheduler and workers on 127.0.0.1.

dask[distributed] is in the test extra: these tests run in CI, never skip.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # noqa: F401  (fails loudly if the test extra lacks dask)
import numpy as np
import pytest
from click.testing import CliRunner

from refrnn_cli.main import cli
from dask_cluster import LoopbackCluster, free_port
from refrnn import __version__
from refrnn.run.checkpoint import load_checkpoint
from refrnn.experiments.dask_client import DistSweepError, check_workers
from refrnn.experiments.dask_worker import probe_storage
from refrnn.experiments.one_run import resumable_step
from refrnn.experiments.sweep import sweep

TINY = {"task_set": "yang19", "hidden": 16, "eval_every": 100, "checkpoint_every": 10,
        "trials_per_task": 8, "eval_trials": 4, "batch_size": 4, "seq_len": 40}
GRID = {"mask": ["locality", "full"], "sparsity": [0.25]}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """One trial cache folder and one BLAS thread, for workers and serial runs
    alike (the workers inherit this environment)."""
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


@pytest.fixture(scope="module")
def _cluster(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    with LoopbackCluster(2, env={"REFRNN_CACHE_DIR": cache, "OMP_NUM_THREADS": "1",
                                 "OPENBLAS_NUM_THREADS": "1"}) as cluster:
        cluster.wait_for_workers(2)
        cluster.cache = cache
        yield cluster


@pytest.fixture
def shared_cluster(_cluster, monkeypatch):
    """Two workers for the tests that do not kill one; the client builds the
    trial caches where the workers read them."""
    monkeypatch.setenv("REFRNN_CACHE_DIR", _cluster.cache)
    return _cluster


def _attempts(out, name):
    log = (out / "_logs" / f"{name}.log").read_text()
    return re.findall(r"attempt on (tcp://[\d.:]+) .*?, (from scratch|resuming from step (\d+))",
                      log)


def _params(run_dir):
    return load_checkpoint(run_dir / "last.h5").params


def test_killed_worker_costs_only_progress_and_ends_bit_identical(tmp_path, env):
    base = {**TINY, "steps": 150}
    out = tmp_path / "dist"
    result = {}
    with LoopbackCluster(2) as cluster:
        cluster.wait_for_workers(2)
        thread = threading.Thread(target=lambda: result.update(rows=sweep(
            GRID, out, seeds=[0, 1], base=base, scheduler=cluster.address,
            echo=lambda line: None)))
        thread.start()
        victim, deadline = None, time.time() + 60
        while victim is None and time.time() < deadline and thread.is_alive():
            for run_dir in sorted(out.glob("*__seed*")):
                step = resumable_step(run_dir)
                if step and 30 <= step <= 100 and not (run_dir / "sweep_done.json").exists():
                    victim = run_dir.name
                    break
            time.sleep(0.05)
        assert victim, "no run was caught mid-way"
        worker = _attempts(out, victim)[-1][0]
        cluster.kill(worker)
        killed_at = resumable_step(out / victim)
        thread.join(timeout=120)
    assert not thread.is_alive()
    rows = result["rows"]
    assert [r.status for r in rows] == ["done"] * 4, [r.error for r in rows]
    tries = _attempts(out, victim)
    assert len(tries) == 2 and tries[0][0] == worker and tries[1][0] != worker
    assert int(tries[1][2]) >= killed_at > 0  # resumed, not restarted
    serial = tmp_path / "serial"
    rows_serial = sweep(GRID, serial, seeds=[0, 1], base=base, jobs=1)
    assert [r.status for r in rows_serial] == ["done"] * 4
    for r in rows:
        name = f"{r.label}__seed{r.seed}"
        a, b = _params(out / name), _params(serial / name)
        assert sorted(a) == sorted(b)
        for key in a:
            assert np.array_equal(a[key], b[key]), (name, key)
        assert r.final_perf == next(s.final_perf for s in rows_serial
                                    if (s.label, s.seed) == (r.label, r.seed))


def test_own_failures_are_not_retried_and_the_sweep_goes_on(tmp_path, shared_cluster,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # --out sw: relative here, the workers run elsewhere
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an hdf5 file")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"base": {**TINY, "steps": 20}, "configs": [
        {"label": "good", "mask": "autapse"},
        {"label": "nan", "mask": "autapse", "lr": 1000.0},
        {"label": "badcache", "mask": "autapse", "cache_path": str(bad)}]}))
    out = tmp_path / "sw"
    res = CliRunner().invoke(cli, ["sweep", "--grid", str(grid), "--out", "sw",
                                   "--scheduler", shared_cluster.address])
    assert res.exit_code == 1, res.output
    assert "2 of 3 runs failed" in res.output and "Traceback" not in res.output
    assert re.search(r"FAILED nan__seed0: TrainingDiverged: loss is nan", res.output)
    assert "FAILED badcache__seed0" in res.output
    assert (out / "good__seed0" / "sweep_done.json").is_file()
    for name in ("nan__seed0", "badcache__seed0"):
        assert len(_attempts(out, name)) == 1  # no retry
        assert (out / "_logs" / f"{name}.failed").is_file()
    assert "sweep: 1 done, 0 running, 2 failed, 3 total" in res.output
    assert not list((out / "_probe").iterdir())  # probe files cleaned up

    bad.unlink()  # fixed: train builds the cache at cache_path; nan still fails
    res = CliRunner().invoke(cli, ["sweep", "--grid", str(grid), "--out", "sw",
                                   "--scheduler", shared_cluster.address, "--restart-failed"])
    assert res.exit_code == 1 and "1 of 3 runs failed" in res.output, res.output
    assert "skip  good__seed0" in res.output
    assert (out / "badcache__seed0" / "sweep_done.json").is_file()
    assert not (out / "_logs" / "badcache__seed0.failed").exists()
    assert [a[1] for a in _attempts(out, "badcache__seed0")] == ["from scratch"] * 2


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), as in a `refrnn sweep`
    process, whatever an earlier test or plugin left installed."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield old
    signal.signal(signal.SIGINT, old)


def test_ctrl_c_cancels_tasks_and_leaves_runs_resumable(tmp_path, shared_cluster,
                                                        default_sigint):
    grid = {"mask": ["autapse"], "sparsity": [0.25]}
    out = tmp_path / "sw"
    run = out / "autapse_s0.25__seed0"
    sent = {}

    def interrupt_mid_run():
        deadline = time.time() + 60
        while time.time() < deadline and not sent:
            try:
                if (resumable_step(run) or 0) >= 20:
                    sent["step"] = resumable_step(run)
                    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: reaches the main thread
            except Exception as exc:  # noqa: BLE001 - reported by the test below
                sent["error"] = repr(exc)
            time.sleep(0.05)

    threading.Thread(target=interrupt_mid_run, daemon=True).start()
    lines = []
    with pytest.raises(KeyboardInterrupt):  # 5000 steps: cannot finish first
        sweep(grid, out, base={**TINY, "steps": 5000}, scheduler=shared_cluster.address,
              echo=lines.append)
    assert "rerun the same command to resume" in lines[-1] and "error" not in sent
    deadline = time.time() + 20  # the worker stops the run within ~0.5 s
    while "cancelled at step" not in (out / "_logs" / f"{run.name}.log").read_text():
        assert time.time() < deadline, "the cancelled run kept training"
        time.sleep(0.1)
    stopped = resumable_step(run)
    time.sleep(1.0)
    assert resumable_step(run) == stopped and stopped >= sent["step"] >= 20
    assert not (run / "sweep_done.json").exists()
    # resumable: the same sweep (a shorter one, for time) goes on from there
    rows = sweep(grid, out, base={**TINY, "steps": stopped + 20},
                 scheduler=shared_cluster.address, echo=lines.append)
    assert rows[0].status == "done" and rows[0].final_step == stopped + 20
    assert _attempts(out, run.name)[-1][2] == str(stopped)


def test_killed_client_leaves_no_run_training(tmp_path, shared_cluster):
    out = tmp_path / "sw"
    run = out / "autapse_s0.25__seed0"
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"base": {**TINY, "steps": 5000},
                                "grid": {"mask": ["autapse"], "sparsity": [0.25]}}))
    client = subprocess.Popen([sys.executable, "-c", "from refrnn_cli.main import cli; cli()",
                               "sweep", "--grid", str(grid),
                               "--out", str(out), "--scheduler", shared_cluster.address],
                              cwd=Path(__file__).parents[1], stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while (resumable_step(run) or 0) < 20:
        assert time.time() < deadline and client.poll() is None
        time.sleep(0.05)
    client.kill()  # SIGKILL: no cancel message, the scheduler only sees it go
    client.wait()
    deadline = time.time() + 20
    while "cancelled at step" not in (out / "_logs" / f"{run.name}.log").read_text():
        assert time.time() < deadline, "the run kept training without its client"
        time.sleep(0.1)
    stopped = resumable_step(run)
    time.sleep(1.0)
    assert resumable_step(run) == stopped < 5000


def test_scheduler_local_starts_its_own_workers(tmp_path, env):
    res = CliRunner().invoke(cli, [
        "sweep", "--task-set", "yang19", "--mask", "autapse", "--seeds", "2",
        "--set", "hidden=16", "--set", "trials_per_task=8", "--set", "eval_trials=4",
        "--set", "batch_size=4", "--set", "seq_len=40", "--steps", "10",
        "--eval-every", "5", "--out", str(tmp_path / "sw"), "--scheduler", "local",
        "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "dask: 2 worker(s)" in res.output and "sweep: 2 done, 0 running" in res.output
    for seed in (0, 1):
        assert len(_attempts(tmp_path / "sw", f"yang19_autapse__seed{seed}")) == 1
        assert (tmp_path / "sw" / f"yang19_autapse__seed{seed}" / "sweep_done.json").is_file()


def test_unreachable_scheduler_fails_fast_and_cleanly(tmp_path, env):
    t0 = time.time()
    res = CliRunner().invoke(cli, ["sweep", "--mask", "autapse", "--out", str(tmp_path / "o"),
                                   "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                                   "--connect-timeout", "2"])
    assert res.exit_code == 2, res.output
    assert "cannot reach the dask scheduler" in res.output
    assert "Traceback" not in res.output and time.time() - t0 < 15
    assert not list((tmp_path / "o").glob("*__seed*"))
    assert not (tmp_path / "cache").exists()  # failed before building any trial cache


def test_workers_with_other_or_no_refrnn_are_refused(tmp_path, env):
    fake = {"old": '__version__ = "0.0.1"\n', "broken": 'raise ImportError("broken")\n'}
    for name, body in fake.items():
        (tmp_path / name / "refrnn").mkdir(parents=True)
        (tmp_path / name / "refrnn" / "__init__.py").write_text(body)
    with LoopbackCluster(0, cwd=tmp_path) as cluster:
        for name in fake:
            cluster.add_worker(env={"PYTHONPATH": str(tmp_path / name)})
        cluster.wait_for_workers(2)
        res = CliRunner().invoke(cli, ["sweep", "--mask", "autapse", "--out",
                                       str(tmp_path / "o"), "--scheduler", cluster.address])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert f"has refrnn 0.0.1, this client {__version__}" in text
    assert "import refrnn failed: ImportError: broken" in text
    assert "Traceback" not in res.output
    assert not list((tmp_path / "o").glob("*__seed*"))


def test_plain_sweep_never_imports_dask():
    code = ("import sys; import refrnn_cli.main, refrnn.experiments.sweep, refrnn.experiments.dask_client; "
            "from click.testing import CliRunner; "
            "r = CliRunner().invoke(refrnn_cli.main.cli, ['sweep', '--mask', 'full', '--dry-run', "
            "'--out', 'unused']); assert r.exit_code == 0, r.output; "
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_missing_dist_extra_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    res = CliRunner().invoke(cli, ["sweep", "--mask", "autapse", "--out", str(tmp_path / "o"),
                                   "--scheduler", "local"])
    assert res.exit_code == 2, res.output
    assert "refrnn[dist]" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_storage_probe_names_worker_and_path(tmp_path):
    (tmp_path / "_probe").mkdir()
    (tmp_path / "_probe" / "client.txt").write_text("tok")
    ok = probe_storage(str(tmp_path), "_probe/client.txt", "tok")
    assert ok["error"] is None and (tmp_path / "_probe" / ok["file"]).is_file()
    other = probe_storage(str(tmp_path / "elsewhere"), "_probe/client.txt", "tok")
    assert other["file"] is None and "elsewhere" in other["error"]
    assert "storage every worker sees" in other["error"]

    class FakeClient:  # a worker that writes its probe where the client cannot see it
        def run(self, fn, *args, on_error):
            if fn is probe_storage:
                return {"tcp://10.0.0.9:1234": {"host": "node9", "file": "gone.txt",
                                                "error": None}}
            return {"tcp://10.0.0.9:1234": __version__}

    with pytest.raises(DistSweepError, match=r"worker tcp://10.0.0.9:1234 \(node9\) "
                                             r"wrote gone.txt into .* does not see it"):
        check_workers(FakeClient(), tmp_path, __version__)

