"""One ownership rule for every file refrnn writes, figures and summaries
included (refrnn/files/ownership.py): an existing file is replaced only when
refrnn recognises it as its own (its content, or the folder's manifest
``.refrnn-written`` recording its bytes), or with --force; anything else is
refused in one line before any work, and left as it was."""
import pytest

from cli_helpers import invoke, train_tiny
from refrnn.experiments.sweep import sweep
from refrnn.files.errors import FileError

pytest.importorskip("matplotlib")
USER = b"x\n"  # what `echo x > FILE` leaves


@pytest.fixture(scope="module")
def run(cache_file, tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("own") / "run", cache_file)


def _user_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(USER)
    return path


def _refused(r, path):
    assert r.exit_code == 1, r.output
    assert f"Error: cannot replace {path}" in r.output and "Traceback" not in r.output
    assert path.read_bytes() == USER


# ---- refrnn plot ----
@pytest.mark.parametrize("which", ["u_curves.png", "u_heatmap_yang19.png"])
def test_plot_refuses_a_user_file_and_writes_nothing(run, tmp_path, which):
    user = _user_file(tmp_path / which)
    r = invoke("plot", run, "--out", tmp_path / "u")
    _refused(r, user)
    assert sorted(p.name for p in tmp_path.iterdir()) == [which]  # the other not drawn either


def test_plot_replaces_its_own_figures_and_force_replaces_a_user_file(run, tmp_path):
    for _ in range(2):  # the second time over the figures the first one wrote
        r = invoke("plot", run, "--out", tmp_path / "u")
        assert r.exit_code == 0, r.output
    curves = tmp_path / "u_curves.png"
    curves.write_bytes(curves.read_bytes() + b"edited")  # the user's now: refused
    r = invoke("plot", run, "--out", tmp_path / "u")
    assert r.exit_code == 1 and "cannot replace" in r.output
    r = invoke("plot", run, "--out", tmp_path / "u", "--force")
    assert r.exit_code == 0, r.output
    assert curves.read_bytes().startswith(b"\x89PNG")


# ---- refrnn mask --plot ----
@pytest.mark.parametrize("name", ["fig.png", "fig.svg"])
def test_mask_plot_refuses_a_user_file(tmp_path, name):
    user = _user_file(tmp_path / name)
    _refused(invoke("mask", "--hidden", "64", "--plot", user), user)
    r = invoke("mask", "--hidden", "64", "--plot", user, "--force")
    assert r.exit_code == 0 and user.read_bytes() != USER
    r = invoke("mask", "--hidden", "64", "--plot", user)  # now refrnn's: replaced
    assert r.exit_code == 0, r.output


# ---- refrnn analyze ----
@pytest.mark.parametrize("name", ["summary.csv", "clusters.csv", "fixed_points.png"])
def test_analyze_refuses_a_user_file_before_any_work(run, tmp_path, name):
    user = _user_file(tmp_path / "D" / name)
    r = invoke("analyze", run, "--out", tmp_path / "D", "--tasks", "go", "--starts", "1")
    _refused(r, user)
    assert [p.name for p in (tmp_path / "D").iterdir()] == [name]


def test_analyze_replaces_its_own_files_and_force_a_user_one(run, tmp_path):
    args = ["analyze", run, "--out", tmp_path / "D", "--tasks", "go,dlygo", "--starts", "1"]
    assert invoke(*args).exit_code == 0
    r = invoke(*args)  # over its own files (tables by their header, figures by the manifest)
    assert r.exit_code == 0, r.output
    _user_file(tmp_path / "D" / "summary.csv")
    assert invoke(*args).exit_code == 1
    r = invoke(*args, "--force")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "D" / "summary.csv").read_text().startswith("run,checkpoint,")


# ---- refrnn sweep ----
SMALL = ["--hidden", "16", "--steps", "2", "--eval-every", "2", "--batch-size", "4"]


@pytest.mark.parametrize("name", ["summary.csv", "summary_by_config.csv"])
def test_sweep_refuses_a_user_summary_before_any_run(tmp_path, cache_file, name):
    out = tmp_path / "D"
    user = _user_file(out / name)
    r = invoke("sweep", *SMALL, "--mask", "random", "--out", out,
               "--set", f"cache_path={cache_file}", "--set", "trials_per_task=8",
               "--set", "eval_trials=3", "--set", "seq_len=40", "--set", "sparsity=0.25")
    _refused(r, user)
    assert [p.name for p in out.iterdir()] == [name]  # no run, no _logs, no _specs


def test_sweep_library_refuses_too(tmp_path, cache_file):
    user = _user_file(tmp_path / "summary.csv")
    base = {"hidden": 16, "sparsity": 0.25, "batch_size": 4, "seq_len": 40, "steps": 1,
            "eval_every": 1, "trials_per_task": 8, "eval_trials": 3, "cache_path": cache_file}
    with pytest.raises(FileError, match="cannot replace .*summary.csv"):
        sweep({"mask": ["random"]}, tmp_path, base=base)
    assert user.read_bytes() == USER
