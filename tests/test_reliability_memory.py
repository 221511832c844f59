"""Oversized settings are refused before anything is allocated or written
(refrnn/run/memory.py, refrnn/data/footprint.py, refrnn/backends/memory.py)."""
import json
import os

import pytest

from cli_helpers import invoke
from refrnn.backends.memory import TooLarge, check_fits, machine_memory
from refrnn.run.memory import check_run_fits, run_parts
from refrnn.run.settings import ConfigError, TrainConfig


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _refused(r, *words):
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.output, r.output
    for w in ("needs about", "of memory", "more than this machine's", *words):
        assert w in lines[0], r.output


@pytest.mark.parametrize("args, part", [
    (["--hidden", "10000000"], "recurrent mask"),
    (["--batch-size", "100000000"], "training batch"),
    (["--trials-per-task", "1000000000"], "trials in memory"),
    (["--eval-batch-size", "100000000", "--eval-trials", "100000000"], "evaluation batch"),
])
def test_train_refuses_an_oversized_run_and_leaves_nothing(empty_cwd, args, part):
    r = invoke("train", *args, "--out", "big", "-q")
    _refused(r, part)
    assert os.listdir(empty_cwd) == []  # no run directory, no cache, no checkpoint


@pytest.mark.parametrize("setting", [{"batch_size": 1e8}, {"trials_per_task": 1e9}])
def test_a_config_file_with_oversized_settings_is_refused(empty_cwd, setting):
    (empty_cwd / "c.json").write_text(json.dumps(setting))
    r = invoke("train", "--config", "c.json", "--out", "big", "-q")
    _refused(r)
    assert sorted(os.listdir(empty_cwd)) == ["c.json"]


def test_cache_refuses_an_oversized_build(empty_cwd):
    r = invoke("cache", "--trials-per-task", "1000000000", "--out", "big.h5")
    _refused(r, "fewer trials per task")
    assert os.listdir(empty_cwd) == []


def test_the_default_run_fits_and_the_estimate_grows_with_each_setting():
    base = sum(run_parts(TrainConfig().resolved()).values())
    assert base < 2 ** 30  # the quick start: about 90 MiB
    assert check_run_fits(TrainConfig().resolved()) == base
    for change in ({"hidden": 1024}, {"batch_size": 256}, {"seq_len": 800},
                   {"trials_per_task": 10000}, {"eval_batch_size": 1024, "eval_trials": 1024}):
        assert sum(run_parts(TrainConfig(**change).resolved()).values()) > base, change


def test_check_fits_names_the_estimate_and_the_machine():
    assert check_fits({"a": 10, "b": 20}, "job", "do less", total=30) == 30
    with pytest.raises(TooLarge, match=r"job needs about 31 bytes of memory \(b 20 bytes, "
                                        r"a 11 bytes\), more than this machine's 30 bytes"):
        check_fits({"a": 11, "b": 20}, "job", "do less", total=30)
    with pytest.raises(ConfigError, match="more than this machine's 1.0 MiB"):
        check_run_fits(TrainConfig().resolved(), total=2 ** 20)
    total, avail = machine_memory()
    assert total is None or 0 < avail <= total
