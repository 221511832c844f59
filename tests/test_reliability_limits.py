"""One line, never a traceback (issue 33): the memory estimate before the mask
and a Dataset's served block, analyze's bad --tasks and --q-tol, a settings
file nested 100,000 levels deep; no remedy that deletes a file refrnn did not
write; the library refuses the values the CLI refuses."""
import math

import pytest

from cli_helpers import TINY, invoke, train_tiny
from refrnn.core.masks import make_mask
from refrnn.data.dataset import Dataset


def _one_line(r, *words, code=1):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(
        r.exception, SystemExit), r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.output
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


# ---- the memory estimate before the mask ----
@pytest.mark.parametrize("args, words", [
    (["--hidden", "10000000"], ["a locality mask of 10000000 neurons", "TiB", "lower hidden"]),
    (["--hidden", "100000", "--mask", "full"], ["a full mask of 100000 neurons", "GiB"]),
])
def test_mask_too_large_for_the_machine_is_one_line(args, words):
    _one_line(invoke("mask", *args), "needs about", "more than this machine's", *words)


def test_make_mask_refuses_before_allocating():
    with pytest.raises(ValueError, match=r"full mask of 100000 neurons \(10,000,000,000 connections\) needs about 372.5 GiB"):
        make_mask("full", 100000)
    assert make_mask("full", 64).nnz == 64 * 64  # the other side: a mask that fits is built


def test_a_dataset_block_too_large_is_one_valueerror(cache_file):
    with pytest.raises(ValueError, match="batch_size 1000000000 x 10000 steps needs about"):
        Dataset("yang19", batch_size=10 ** 9, seq_len=10 ** 4, cache_path=cache_file,
                trials_per_task=8, eval_trials=3)
    ds = Dataset("yang19", batch_size=4, seq_len=50, cache_path=cache_file,
                 trials_per_task=8, eval_trials=3)
    assert ds()[0].shape == (50, 4, ds.n_inputs)


# ---- analyze: bad --tasks and --q-tol ----
@pytest.fixture(scope="module")
def run(cache_file, tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("lim") / "run", cache_file)


@pytest.mark.parametrize("tasks", ["", ",", " , "])
def test_analyze_with_no_task_named_is_one_line(run, tmp_path, tasks):
    r = invoke("analyze", run, "--tasks", tasks, "--out", tmp_path / "a", "--no-figures")
    _one_line(r, "no task named")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_analyze_refuses_a_non_finite_q_tol(run, tmp_path, value):
    r = invoke("analyze", run, "--q-tol", value, "--out", tmp_path / "a", "--no-figures")
    _one_line(r, "--q-tol", "not a finite number", code=2)
    assert not (tmp_path / "a").exists()


def test_analysis_options_refuse_non_finite_values():
    from refrnn.analysis.report import Options
    for bad in (math.nan, math.inf, 0.0, -1.0):
        with pytest.raises(ValueError, match="q_tol must be a finite number > 0"):
            Options(q_tol=bad)
    assert Options(q_tol=1e-3).q_tol == 1e-3


# ---- a settings file nested 100,000 levels deep ----
@pytest.fixture
def deep(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"a":' * 100000 + "1" + "}" * 100000)
    return path


@pytest.mark.parametrize("args", [["train", "--config"], ["sweep", "--out", "sw", "--config"],
                                  ["sweep", "--out", "sw", "--grid"]])
def test_a_deeply_nested_settings_file_is_one_line(deep, args):
    r = invoke(*args, deep)
    assert r.exit_code in (1, 2), r.output
    assert "nested too deeply" in r.output and "Traceback" not in r.output
    assert not isinstance(r.exception, RecursionError)


# ---- remedies that would delete someone else's file ----
def test_a_foreign_cache_path_is_not_to_be_deleted(tmp_path):
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:root:/root:/bin/bash\n")
    r = invoke("train", *TINY, "--cache-path", foreign, "--out", tmp_path / "r")
    line = _one_line(r, "it is not a refrnn trial cache", "check the path")
    assert "delete" not in line.replace("deletes no file", "")
    assert foreign.read_text().startswith("root:")


def test_a_damaged_refrnn_cache_may_still_be_deleted(cache_file, tmp_path):
    damaged = tmp_path / "c.h5"
    data = bytearray(open(cache_file, "rb").read())
    damaged.write_bytes(bytes(data[: len(data) // 2]))
    r = invoke("train", *TINY, "--cache-path", damaged, "--out", tmp_path / "r")
    _one_line(r, "delete it and rebuild it")


def test_a_foreign_checkpoint_is_not_to_be_deleted(run, tmp_path):
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:root:/root:/bin/bash\n")
    line = _one_line(invoke("eval", run, "--checkpoint", foreign, "--csv", tmp_path / "e.csv"),
                     "it is not a refrnn checkpoint", "check the path")
    assert "--force" not in line


def test_a_damaged_refrnn_checkpoint_may_still_be_deleted(run, tmp_path):
    damaged = tmp_path / "last.h5"
    data = bytearray((run / "last.h5").read_bytes())
    data[3000:3064] = bytes(64)
    damaged.write_bytes(bytes(data))
    _one_line(invoke("eval", run, "--checkpoint", damaged, "--csv", tmp_path / "e.csv"),
              "delete it or start a new run with --force")


# ---- the library refuses what the CLI refuses ----
def test_dataset_refuses_a_dt_the_cli_refuses(tmp_path):
    with pytest.raises(ValueError, match="dt=30 ms does not divide"):
        Dataset("yang19", dt=30, cache_path=tmp_path / "c.h5")
    assert not (tmp_path / "c.h5").exists()
    r = invoke("cache", "--dt", "30", "--out", tmp_path / "c.h5")
    assert r.exit_code == 2 and "does not divide" in r.output
