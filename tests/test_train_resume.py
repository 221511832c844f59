"""Resume: a run killed (SIGKILL) or interrupted (Ctrl-C) ends bit-identical."""
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refrnn.run.checkpoint import load_checkpoint
from refrnn.run.training import train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(hidden=16, sparsity=0.25, batch_size=4, seq_len=40, steps=12, eval_every=4,
            checkpoint_every=3, trials_per_task=8, eval_trials=3, lr=5e-3, seed=3)

KILLER = """
import json, os, signal, sys
from refrnn.run.training import train
kw, kill_at = json.loads(sys.argv[1]), int(sys.argv[2])
def cb(info):
    if info["step"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train(quiet=True, callback=cb, **kw)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every resumed run must reproduce."""
    from refrnn.data.cache import build_cache
    root = tmp_path_factory.mktemp("resume")
    cache = str(build_cache("yang19", 8, 0, eval_trials=3, path=root / "c.h5"))
    kw = dict(TINY, cache_path=cache)
    train(out=str(root / "ref"), quiet=True, **kw)
    return root / "ref", kw


def _metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("seconds")
    return rows


def assert_same_run(a, b):
    ca, cb = load_checkpoint(a / "last.h5"), load_checkpoint(b / "last.h5")
    assert ca.step == cb.step == TINY["steps"]
    for k in ca.params:
        assert ca.params[k].tobytes() == cb.params[k].tobytes(), k
    for part in ("m", "v"):
        for k in ca.optim[part]:
            assert np.array_equal(ca.optim[part][k], cb.optim[part][k]), (part, k)
    assert json.dumps(ca.sampler, default=str) == json.dumps(cb.sampler, default=str)
    assert _metrics(a) == _metrics(b)
    assert (a / "eval.csv").read_text() == (b / "eval.csv").read_text()
    assert load_checkpoint(a / "best.h5").step == load_checkpoint(b / "best.h5").step


@pytest.mark.parametrize("kill_at", [7, 8])
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, kill_at):
    ref, kw = reference
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", KILLER, json.dumps(dict(kw, out=str(out))),
                        str(kill_at)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert load_checkpoint(out / "last.h5").step == 6  # the last checkpoint before the kill
    steps_logged = [int(r["step"]) for r in _metrics(out)]
    assert steps_logged == ([0, 4, 8] if kill_at == 8 else [0, 4])
    r = train(out=str(out), resume=True, quiet=True, **kw)
    assert r.step == TINY["steps"]
    assert_same_run(ref, out)


def test_ctrl_c_saves_then_resume_is_bit_identical(tmp_path, reference):
    ref, kw = reference
    out = tmp_path / "run"

    def interrupt(info):
        if info["step"] == 5:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="step 5"):
        train(out=str(out), quiet=True, callback=interrupt, **kw)
    assert load_checkpoint(out / "last.h5").step == 5  # saved on the way out
    # resuming needs only the run directory: the settings come from config.json
    r = train(out=str(out), resume=True, quiet=True)
    assert r.config.hidden == TINY["hidden"] and r.step == TINY["steps"]
    assert_same_run(ref, out)
    # resuming a finished run changes nothing: no update, no new checkpoint or row
    before = {name: (out / name).read_bytes() for name in ("last.h5", "best.h5")}
    rows = _metrics(out)
    r = train(out=str(out), resume=True, quiet=True)
    assert r.step == TINY["steps"]
    assert {name: (out / name).read_bytes() for name in before} == before
    assert _metrics(out) == rows
    assert_same_run(ref, out)


def test_resume_can_extend_steps(tmp_path, reference):
    ref, kw = reference
    out = tmp_path / "run"
    train(out=str(out), quiet=True, **dict(kw, steps=6))
    r = train(out=str(out), resume=True, quiet=True, steps=TINY["steps"])
    assert r.step == TINY["steps"]
    ca, cb = load_checkpoint(ref / "last.h5"), load_checkpoint(out / "last.h5")
    assert all(ca.params[k].tobytes() == cb.params[k].tobytes() for k in ca.params)


# `refrnn train` run as a command, which sends itself SIGTERM (what `timeout`,
# `kill` and cluster schedulers send) after update 5: a real signal, a fixed step.
SIGTERM_AT_5 = """
import os, signal, sys
from refrnn.run import harness
from refrnn_cli.main import cli
info = harness.Harness.progress_info
def progress_info(self, loss):
    if self.step == 5:
        os.kill(os.getpid(), signal.SIGTERM)
    return info(self, loss)
harness.Harness.progress_info = progress_info
cli.main(sys.argv[1:], prog_name="refrnn")
"""


def test_sigterm_saves_then_resume_is_bit_identical(tmp_path, reference):
    ref, kw = reference
    out = tmp_path / "run"
    args = ["train", "--out", str(out)] + [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", SIGTERM_AT_5, *args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, p.stderr  # not killed: it exits itself
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        f"interrupted (SIGTERM) at step 5; saved {str(out / 'last.h5')!r}; "
        "resume with --resume (resume=True)")
    assert load_checkpoint(out / "last.h5").step == 5  # saved on the way out, not step 3
    r = train(out=str(out), resume=True, quiet=True)
    assert r.step == TINY["steps"]
    assert_same_run(ref, out)
