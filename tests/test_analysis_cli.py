"""`refrnn analyze` on a tiny trained run: the files it writes, and bad input
(no checkpoint, an unknown task, a task set the run was not trained on) as one
`Error:` line with a non-zero exit."""
import csv
import shutil

import pytest

from cli_helpers import invoke
from refrnn.files.ownership import MANIFEST
from refrnn.run.training import train

TINY = dict(task_set="yang19", hidden=16, sparsity=0.25, batch_size=4, seq_len=40,
            steps=6, eval_every=3, trials_per_task=8, eval_trials=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_file):
    out = tmp_path_factory.mktemp("analyze") / "run"
    train(**TINY, cache_path=cache_file, out=str(out), quiet=True)
    return out


def one_line_error(res, *words):
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1 and len(res.output.strip().splitlines()) == 1, res.output
    for w in words:
        assert w in err[0], err[0]


def test_analyze_writes_tables_and_figures(run, tmp_path):
    out = tmp_path / "a"
    res = invoke("analyze", run, "--out", out, "--tasks", "go,anti", "--tasks", "dm1",
                 "--starts", "4")
    assert res.exit_code == 0, res.output
    for name in ("summary.csv", "task_variance.csv", "clusters.csv", "silhouette.csv",
                 "ftv.csv", "dimensionality.csv", "fixed_points.csv", "fixed_point_tasks.csv",
                 "task_variance.png", "pca_trajectories.png", "fixed_points.png"):
        assert (out / name).is_file(), name
    with open(out / "fixed_point_tasks.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["task"] for r in rows] == ["go", "anti", "dm1"]  # the run's order
    assert all(int(r["n_starts"]) == 4 for r in rows)
    with open(out / "summary.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["n_tasks"] == "3" and row["checkpoint"] == "best"
    # no temporary left (the manifest records the figures: refrnn/files/ownership.py)
    assert not any(p.name.startswith(".") for p in out.iterdir() if p.name != MANIFEST)


def test_default_out_is_in_the_run_directory(run):
    res = invoke("analyze", run, "--checkpoint", "last", "--tasks", "go,rtgo,anti",
                 "--no-figures", "--starts", "2")
    assert res.exit_code == 0, res.output
    assert (run / "analysis_last" / "summary.csv").is_file()
    assert not (run / "analysis_last" / "task_variance.png").exists()


def test_run_without_checkpoint(run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.json", bare / "config.json")
    one_line_error(invoke("analyze", bare), "no best.h5 checkpoint", "train it first")
    shutil.copy(run / "last.h5", bare / "last.h5")
    one_line_error(invoke("analyze", bare), "no best.h5", "--checkpoint last")


def test_not_a_run_directory(tmp_path):
    one_line_error(invoke("analyze", tmp_path), "not a run directory")


def test_unknown_task(run, tmp_path):
    one_line_error(invoke("analyze", run, "--tasks", "go,nosuchtask", "--out", tmp_path),
                   "unknown task 'nosuchtask'")


def test_task_set_the_run_was_not_trained_on(run, tmp_path):
    one_line_error(invoke("analyze", run, "--tasks", "modcog", "--out", tmp_path),
                   "trained on yang19", "'modcog'")
    one_line_error(invoke("analyze", run, "--tasks", "dlygointr", "--out", tmp_path),
                   "'dlygointr' is not one the run was trained on")
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_bad_pair(run, tmp_path):
    one_line_error(invoke("analyze", run, "--tasks", "go,anti", "--pair", "go:dm1",
                          "--out", tmp_path), "go:dm1")


def test_without_matplotlib_tables_are_written_and_figures_skipped(run, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import fails
    out = tmp_path / "a"
    res = invoke("analyze", run, "--out", out, "--tasks", "go", "--starts", "2")
    assert res.exit_code == 0, res.output
    assert "note: no figures" in res.output
    assert list(out.glob("*.csv")) and not list(out.glob("*.png"))
    res = invoke("analyze", run, "--out", tmp_path / "b", "--tasks", "go", "--figures")
    one_line_error(res, "figures need matplotlib")
    assert not (tmp_path / "b").exists()


def test_same_columns_with_and_without_a_delay_task(run, tmp_path):
    """A run's tables have one set of columns whether or not an analysed task
    has a delay period (go has none, dlygo has one)."""
    heads = {}
    for name, tasks in (("plain", "go,anti"), ("delay", "go,dlygo")):
        res = invoke("analyze", run, "--out", tmp_path / name, "--tasks", tasks,
                     "--starts", "3", "--no-figures")
        assert res.exit_code == 0, res.output
        heads[name] = {f: (tmp_path / name / f).read_text().splitlines()[0]
                       for f in ("summary.csv", "fixed_point_tasks.csv", "dimensionality.csv")}
        assert ("from delay-period starts" in res.output) == (name == "delay"), res.output
    assert heads["plain"] == heads["delay"]
    with open(tmp_path / "delay" / "fixed_point_tasks.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["starts"]) for r in rows] == [
        ("go", "activity"), ("dlygo", "activity"), ("dlygo", "delay")]


def test_tv_statistic_is_chosen_by_name_and_named_in_every_tv_table(run, tmp_path):
    """Yang et al.'s task variance by default; the b65a536 one ("all-steps")
    only by name; summary, task_variance, clusters, silhouette and ftv name it."""
    seen = {}
    for stat in ("yang", "all-steps"):
        out = tmp_path / stat
        args = ["analyze", run, "--out", out, "--tasks", "go,anti,dm1", "--starts", "2",
                "--no-figures"] + (["--tv-statistic", stat] if stat != "yang" else [])
        res = invoke(*args)
        assert res.exit_code == 0, res.output
        assert f"statistic {stat}" in res.output, res.output
        for name in ("summary.csv", "task_variance.csv", "ftv.csv"):
            with open(out / name, newline="") as f:
                rows = list(csv.DictReader(f))
            assert rows and {r["tv_statistic"] for r in rows} == {stat}, name
        with open(out / "ftv.csv", newline="") as f:
            seen[stat] = [(r["task_a"], r["unit"]) for r in csv.DictReader(f)]
    assert seen["yang"] and all(u.isdigit() for _, u in seen["yang"])
    bad = invoke("analyze", run, "--tv-statistic", "fixation-kept", "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "'--tv-statistic'" in bad.output, bad.output
    assert not (tmp_path / "x").exists()
