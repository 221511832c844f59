"""refrnn.experiments.plots and `refrnn plot` on hand-made run directories."""
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from refrnn_cli.main import cli
from refrnn.experiments.plots import collect_runs, final_task_table, plot_runs
from sweep_helpers import write_run

pytest.importorskip("matplotlib")


def _png_size(path):
    """(width, height) from a PNG header; fails on anything else."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def sweep_dir(tmp_path):
    """Two labels x two seeds on yang19 and one modcog run, all finished,
    plus an unfinished run (no sweep_done.json) that plots must leave out."""
    steps = [10, 20, 30]
    for seed, shift in ((0, 0.0), (1, 0.1)):
        write_run(tmp_path / f"loc__seed{seed}", steps, [0.2 + shift, 0.5, 0.9],
                  {"go": [0.3, 0.6, 1.0], "anti": [0.1, 0.4, 0.8 - shift]},
                  done_label="locality", seed=seed)
        write_run(tmp_path / f"full__seed{seed}", steps, [0.1, 0.3, 0.4 + shift],
                  {"go": [0.1, 0.2, 0.5], "anti": [0.1, 0.4, 0.3]},
                  config={"mask": "full", "sparsity": 1.0}, done_label="full",
                  seed=seed)
    write_run(tmp_path / "mc", [5, 10], [0.1, 0.2], {"goseqr": [0.0, 0.4]},
              config={"task_set": "modcog"}, done_label="modcog_loc")
    write_run(tmp_path / "unfinished", [5], [0.0], {"go": [0.0]})
    (tmp_path / "_logs").mkdir()  # sweep bookkeeping folders are not runs
    return tmp_path


def test_collect_runs_finished_only_in_sweep_folder(sweep_dir):
    runs = collect_runs([sweep_dir])
    labels = sorted((r.task_set, r.label, r.seed) for r in runs)
    assert labels == [("modcog", "modcog_loc", 0),
                      ("yang19", "full", 0), ("yang19", "full", 1),
                      ("yang19", "locality", 0), ("yang19", "locality", 1)]


def test_collect_runs_label_from_config(sweep_dir):
    # an explicit run directory is always read; without a marker its label
    # comes from config.json
    (r,) = collect_runs([sweep_dir / "unfinished"])
    assert (r.task_set, r.label, r.seed) == ("yang19", "yang19_locality_s0.04_N16", 0)
    (r,) = collect_runs([sweep_dir / "full__seed1"])
    assert (r.label, r.seed) == ("full", 1)


def test_final_task_table_means_over_seeds(sweep_dir):
    runs = [r for r in collect_runs([sweep_dir]) if r.task_set == "yang19"]
    members = {}
    for r in runs:
        members.setdefault(r.label, []).append(r)
    labels, tasks, grid = final_task_table(members)
    assert tasks == ["go", "anti"]
    row = labels.index("locality")
    np.testing.assert_allclose(grid[row], [1.0, (0.8 + 0.7) / 2])


def test_plot_runs_writes_readable_pngs(sweep_dir, tmp_path):
    out = tmp_path / "figs" / "demo"
    written = plot_runs([sweep_dir], out)
    names = sorted(p.name for p in written)
    assert names == ["demo_curves.png", "demo_heatmap_modcog.png",
                     "demo_heatmap_yang19.png"]
    for p in written:
        w, h = _png_size(p)
        assert w > 300 and h > 150 and p.stat().st_size > 5000
    # two task-set panels side by side: wider than tall
    w, h = _png_size(out.parent / "demo_curves.png")
    assert w > 1.5 * h


def test_plot_cli(sweep_dir, tmp_path):
    res = CliRunner().invoke(cli, ["plot", str(sweep_dir / "loc__seed0"),
                                   str(sweep_dir / "loc__seed1"),
                                   "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p_curves.png").stat().st_size > 0
    assert (tmp_path / "p_heatmap_yang19.png").stat().st_size > 0
    assert "wrote" in res.output


def test_plot_cli_rejects_folder_without_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["plot", str(tmp_path / "empty")])
    assert res.exit_code == 2
    assert "no metrics.csv" in res.output
    assert "Traceback" not in res.output


def test_plot_cli_of_several_runs_writes_into_the_current_folder(sweep_dir, tmp_path,
                                                                  monkeypatch):
    """The figures of several runs belong to none of them: they go to the
    current folder, and the command says where."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    a, b = sweep_dir / "loc__seed0", sweep_dir / "loc__seed1"
    res = CliRunner().invoke(cli, ["plot", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert (here / "plot_curves.png").is_file() and "wrote plot_curves.png" in res.output
    assert not (a / "plot_curves.png").exists()
    res = CliRunner().invoke(cli, ["plot", str(a)])  # one run: its own folder
    assert res.exit_code == 0, res.output
    assert (a / "plot_curves.png").is_file()
