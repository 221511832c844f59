"""What --force and --out may replace (refrnn/files/ownership.py), and the small
settings cases of issue 24: each refused case says so in one line and leaves
the user's file byte for byte as it was."""
import json
import os

import numpy as np
import pytest

from cli_helpers import TINY, invoke, train_tiny
from refrnn.run.checkpoint import FORMAT
from refrnn.run.run_dir import CHECKPOINT_MARK, RUN_FILES
from refrnn.run.settings import ConfigError, load_config_file

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def run(cache_file, tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("own") / "run", cache_file)


def _one_error_line(r, *words):
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in lines[0], r.output
    return lines[0]


def test_the_checkpoint_mark_is_every_format_name():
    assert FORMAT.encode().startswith(CHECKPOINT_MARK)


def test_cache_out_never_replaces_a_file_that_is_not_a_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes\n")
    r = invoke("cache", "--trials-per-task", "2", "--eval-trials", "1",
               "--out", "notes.txt")
    assert r.exit_code == 1
    _one_error_line(r, "cannot replace notes.txt", "not a refrnn trial cache")
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]  # no lock, no temporary file


def test_cache_out_replaces_a_cache(cache_file, tmp_path):
    dst = tmp_path / "c.h5"
    dst.write_bytes(open(cache_file, "rb").read())
    r = invoke("cache", "--trials-per-task", "2", "--eval-trials", "1",
               "--out", dst)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("name, text", [("config.json", '{"my": "settings"}\n'),
                                        ("metrics.csv", "a,b\n1,2\n"),
                                        ("last.h5", "not hdf5"),
                                        ("eval.csv", "x\n")])
def test_train_force_in_the_current_folder_keeps_the_users_files(cache_file, tmp_path,
                                                                 monkeypatch, name, text):
    """`train --out "" --force` means the current folder: a user's own file under a
    run file's name is refused, not deleted (nothing else is touched either)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    (tmp_path / "notes.txt").write_text("mine")
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", "", "--force", "-q")
    assert r.exit_code == 1
    _one_error_line(r, f"cannot replace {name}", "is not a refrnn")
    assert (tmp_path / name).read_text() == text
    assert sorted(os.listdir(tmp_path)) == sorted([name, "notes.txt"])


def test_train_force_replaces_its_own_run(cache_file, run):
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", run, "--force", "-q")
    assert r.exit_code == 0, r.output
    assert all((run / n).is_file() for n in RUN_FILES)


def test_train_without_force_in_a_folder_with_a_foreign_run_file(cache_file, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", tmp_path, "-q")
    assert r.exit_code == 1
    _one_error_line(r, "config.json", "is not a refrnn run's config.json")  # not "pass --force"


def test_a_runs_config_reused_as_config_does_not_aim_at_that_run(cache_file, run):
    before = {n: (run / n).read_bytes() for n in RUN_FILES}
    r = invoke("train", "--config", run / "config.json", "--lr", "0.01", "--force", "-q")
    assert r.exit_code == 2
    _one_error_line(r, "is the config.json of run directory", "pass --out")
    assert {n: (run / n).read_bytes() for n in RUN_FILES} == before
    # with --out elsewhere it is the documented way to repeat a run
    other = run.parent / "again"
    r = invoke("train", "--config", run / "config.json", "--out", other, "--steps", "3", "-q")
    assert r.exit_code == 0, r.output


def test_export_out_must_fit_the_format_and_never_replaces_foreign_files(run, tmp_path):
    r = invoke("export", run, "--format", "npz", "--out", tmp_path / "x.pt")
    assert r.exit_code == 2 and "does not end in .npz" in r.output
    r = invoke("export", run, "--format", "torch", "--out", tmp_path / "x.npz")
    assert r.exit_code == 2 and "does not end in .pt or .pth" in r.output
    assert not list(tmp_path.iterdir())
    mine = tmp_path / "mine.npz"
    np.savez(mine, a=np.arange(3))
    r = invoke("export", run, "--format", "npz", "--out", mine)
    assert r.exit_code == 1
    _one_error_line(r, "cannot replace", "not a refrnn export")
    assert list(np.load(mine).keys()) == ["a"]
    ok = tmp_path / "run.npz"
    for _ in range(2):  # its own export is replaced
        r = invoke("export", run, "--format", "npz", "--out", ok)
        assert r.exit_code == 0, r.output


def test_eval_csv_never_replaces_a_foreign_file(run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    r = invoke("eval", run, "--csv", notes)
    assert r.exit_code == 1
    _one_error_line(r, "cannot replace", "not a refrnn evaluation table")
    assert notes.read_text() == "mine\n"


@pytest.mark.parametrize("text, words", [
    ('{"hidden": 16, "hidden": 32}', "key 'hidden' appears twice"),
    ('{"task-set": "yang19", "task_set": "modcog"}', "'task_set' is given twice"),
    ('{"lr": 0.01, "nested": {"a": 1, "a": 2}}', "key 'a' appears twice"),
])
def test_a_setting_given_twice_is_refused(tmp_path, text, words):
    f = tmp_path / "c.json"
    f.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config_file(f)
    r = invoke("train", "--config", f, "--out", tmp_path / "r", "-q")
    assert r.exit_code == 2
    _one_error_line(r, words)
    assert not (tmp_path / "r").exists()


def test_toml_refuses_a_key_twice(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("hidden = 16\nhidden = 32\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config_file(f)


@pytest.mark.parametrize("n", [3, 7, 9, 13, 256, 1000, 4097])
def test_the_least_sparsity_suggested_is_accepted(n):
    from refrnn.core.masks import in_degree
    with pytest.raises(ValueError) as e:
        in_degree(n, 0.4 / n)
    least = str(e.value).rsplit(">= ", 1)[1]
    assert in_degree(n, float(least)) == 1
    # and it is the least such number at 3 significant digits
    lower = float(least) - 10 ** (np.floor(np.log10(float(least))) - 2)
    with pytest.raises(ValueError):
        in_degree(n, lower)


def test_hidden_7_suggests_what_is_then_accepted(cache_file, tmp_path):
    r = invoke("train", "--hidden", "7", "--cache-path", cache_file, "--out", tmp_path / "a")
    line = _one_error_line(r, "use sparsity >= 0.0715")
    assert r.exit_code == 2
    r = invoke("train", *TINY, "--hidden", "7", "--sparsity", line.rsplit(">= ", 1)[1],
               "--steps", "1", "--cache-path", cache_file, "--out", tmp_path / "b", "-q")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("opt", [("--lr", "1e30"), ("--init-radius", "1e6")])
def test_divergence_is_one_line_without_numpy_warnings_first(cache_file, tmp_path, opt,
                                                            recwarn):
    import warnings
    warnings.simplefilter("always")  # the suite's filter would hide what is tested here
    r = invoke("train", *TINY, *opt, "--cache-path", cache_file, "--out", tmp_path / "r", "-q")
    assert r.exit_code == 1
    _one_error_line(r, "loss is nan")
    assert "RuntimeWarning" not in r.output and "encountered" not in r.output
    assert not [w for w in recwarn if "encountered" in str(w.message)]
