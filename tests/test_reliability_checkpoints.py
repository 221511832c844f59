"""Every command that opens a checkpoint (eval, export, analyze, train --resume) refuses
another run's checkpoint and one with non-finite parameters or Adam state,
naming what is wrong (refrnn/run/checkpoint_check.py)."""
import shutil

import numpy as np
import pytest

from cli_helpers import TINY, invoke
from refrnn.run.checkpoint import load_checkpoint, save_checkpoint
from refrnn.run.checkpoint_check import run_identity
from refrnn.run.settings import TrainConfig


@pytest.fixture(scope="module")
def runs(cache_file, tmp_path_factory):
    base = tmp_path_factory.mktemp("ck")
    made = {}
    for name, extra in (("a", []), ("seed1", ["--seed", "1"]), ("longer", ["--steps", "9"])):
        r = invoke("train", *TINY, *extra, "--cache-path", cache_file, "--out", base / name,
                   "-q")
        assert r.exit_code == 0, r.output
        made[name] = base / name
    return made


def _copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


def _commands(run, tmp_path):
    """(name, args) of each command that opens run/last.h5."""
    return [("eval", ["eval", run, "--checkpoint", "last", "--csv", tmp_path / "e.csv"]),
            ("export", ["export", run, "--checkpoint", "last", "--format", "npz",
                        "--out", tmp_path / "x.npz"]),
            ("analyze", ["analyze", run, "--checkpoint", "last", "--out", tmp_path / "an",
                         "--tasks", "go", "--starts", "2", "--no-figures"]),
            ("resume", ["train", "--out", run, "--resume", "--steps", "12", "-q"])]


def _all_refuse(run, tmp_path, *words):
    for name, args in _commands(run, tmp_path):
        r = invoke(*args)
        lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
        assert r.exit_code != 0 and len(lines) == 1, (name, r.output)
        for w in words:
            assert w in lines[0], (name, r.output)
    assert not (tmp_path / "e.csv").exists() and not (tmp_path / "x.npz").exists()
    assert not (tmp_path / "an").exists()


def test_identity_ignores_what_a_resume_may_change():
    a = TrainConfig(out="x", steps=5).resolved()
    assert run_identity(a) == run_identity(a.replace(out="y", steps=50, device="cpu"))
    assert run_identity(a) != run_identity(a.replace(seed=1))
    assert run_identity(a) != run_identity(a.replace(lr=0.01))


def test_another_runs_checkpoint_is_refused(runs, tmp_path):
    run = _copy_run(runs["a"], tmp_path / "run")
    shutil.copy(runs["seed1"] / "last.h5", run / "last.h5")
    for name, args in _commands(run, tmp_path):
        r = invoke(*args)
        assert r.exit_code != 0, (name, r.output)
        assert "seed=1" in r.output and "seed=0" in r.output, (name, r.output)
    # a longer run of the same settings: past this run's steps, so not its checkpoint
    shutil.copy(runs["longer"] / "last.h5", run / "last.h5")
    for name in ("eval", "export", "analyze"):
        r = invoke(*dict(_commands(run, tmp_path))[name])
        assert r.exit_code == 1 and "belongs to another run: it is at step 9" in r.output


def test_its_own_checkpoint_still_works(runs, tmp_path):
    run = _copy_run(runs["a"], tmp_path / "run")
    for name, args in _commands(run, tmp_path):
        r = invoke(*args)
        assert r.exit_code == 0, (name, r.output)


@pytest.mark.parametrize("where, key, words", [
    ("params", "w_rec", "parameter w_rec has 1 of"),
    ("params", "W_out", "parameter W_out has 1 of"),
    ("m", "W_in", "optimiser state m.W_in has 1 of"),
    ("v", "b", "optimiser state v.b has 1 of"),
])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_checkpoints_are_refused(runs, tmp_path, where, key, words, bad):
    """Written through save_checkpoint, so every checksum is consistent: only the
    finiteness check can catch it."""
    run = _copy_run(runs["a"], tmp_path / "run")
    ck = load_checkpoint(run / "last.h5")
    arr = ck.params[key] if where == "params" else ck.optim[where][key]
    arr.flat[0] = bad
    save_checkpoint(run / "last.h5", ck)
    _all_refuse(run, tmp_path, "last.h5", words, "not finite")


def test_a_nan_adam_scalar_is_refused(runs, tmp_path):
    run = _copy_run(runs["a"], tmp_path / "run")
    ck = load_checkpoint(run / "last.h5")
    ck.optim["lr"] = float("nan")
    save_checkpoint(run / "last.h5", ck)
    _all_refuse(run, tmp_path, "optimiser state lr")
