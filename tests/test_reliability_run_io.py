"""A run's own streams and files: a closed or broken stdout does not stop
training, a damaged metrics.csv or config.json stops a resume with one line
naming the file, and a signal during start-up ends without a traceback."""
import os
import subprocess
import sys
from pathlib import Path

from refrnn.run.checkpoint import load_checkpoint

from cli_helpers import TINY, invoke, train_tiny

ROOT = Path(__file__).resolve().parents[1]
CLI = "from refrnn_cli.main import cli; cli(prog_name='refrnn')"


def refrnn(*args, **kw):
    """``refrnn ARGS...`` as its own process (a real stdout and real signals)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", CLI, *[str(a) for a in args]], env=env,
                          stderr=subprocess.PIPE, text=True, timeout=180, **kw)


def assert_trained_to_end(out):
    assert load_checkpoint(out / "last.h5").step == 6  # TINY's steps
    assert (out / "eval.csv").is_file()


def test_closed_stdout_trains_to_the_end(tmp_path, cache_file):
    out = tmp_path / "run"
    # `refrnn train ... >&-`: no stdout at all (sys.stdout is None)
    p = refrnn("train", *TINY, "--cache-path", cache_file, "--out", out,
               preexec_fn=lambda: os.close(1))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert_trained_to_end(out)


def test_broken_stdout_trains_to_the_end(tmp_path, cache_file):
    out = tmp_path / "run"
    # `refrnn train ... | head -0`: the reader is gone before the first line
    r, w = os.pipe()
    os.close(r)
    try:
        p = refrnn("train", *TINY, "--cache-path", cache_file, "--out", out, stdout=w)
    finally:
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.stderr.count("progress is no longer printed; training goes on") == 1, p.stderr
    assert_trained_to_end(out)
