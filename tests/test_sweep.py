"""refrnn.experiments.sweep: grid expansion, summaries, and tiny real sweeps."""
import csv
import json

import pytest
from click.testing import CliRunner

from refrnn_cli.main import cli
from refrnn.experiments.grid import expand_grid
from refrnn.experiments.sweep import sweep
from refrnn.experiments.summary import aggregate, summarize_run, summary_table
from sweep_helpers import write_run


def test_expand_grid_product_seed_major():
    specs = expand_grid({"mask": ["locality", "full"], "sparsity": [0.04]},
                        configs=[{"label": "big", "hidden": 64}], seeds=[0, 1])
    assert [(s.label, s.seed) for s in specs] == [
        ("locality_s0.04", 0), ("full_s0.04", 0), ("big", 0),
        ("locality_s0.04", 1), ("full_s0.04", 1), ("big", 1)]
    assert specs[2].overrides == {"hidden": 64}
    assert specs[0].overrides == {"mask": "locality", "sparsity": 0.04}
    assert specs[4].name == "full_s0.04__seed1"


def test_expand_grid_seed_list_and_dashed_keys():
    specs = expand_grid({"eval-every": [5], "seed": [3, 4]})
    assert [s.seed for s in specs] == [3, 4]
    assert specs[0].overrides == {"eval_every": 5}


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid={"mask": "full"}), "non-empty list"),
    (dict(grid={"mask": []}), "non-empty list"),
    (dict(grid={"mask": ["full"]}, seeds=[-1]), "seeds"),
    (dict(grid={"mask": ["full"]}, seeds=[]), "seeds"),
    (dict(configs=[{"label": "a"}, {"label": "a", "hidden": 8}]), "share the label"),
    (dict(configs=[{"seed": 1}]), "'seed'"),
])
def test_expand_grid_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(**kwargs)


def test_summarize_and_aggregate(tmp_path):
    steps = [0, 10, 20, 30, 40]
    a = write_run(tmp_path / "a0", steps, [0.1, 0.5, 0.85, 0.8, 0.95],
                  {"go": [0] * 5}, seconds=[0, 1, 2, 3, 12.5], done_label="A")
    b = write_run(tmp_path / "a1", steps, [0.1, 0.9, 0.9, 0.9, 0.75],
                  {"go": [0] * 5}, seconds=[0, 1, 2, 3, 10.5], done_label="A",
                  seed=1)
    c = write_run(tmp_path / "b0", steps, [0.1, 0.2, 0.3, 0.4, 0.5],
                  {"go": [0] * 5})  # no marker: unfinished
    r = [summarize_run(a, "A", 0), summarize_run(b, "A", 1),
         summarize_run(c, "B", 0), summarize_run(tmp_path / "nope", "B", 1)]
    assert (r[0].final_perf, r[0].steps_to_80, r[0].steps_to_90) == (0.95, 20, 40)
    assert (r[1].final_perf, r[1].steps_to_80, r[1].steps_to_90) == (0.75, 10, 10)
    assert r[0].wall_s == 12.5 and r[0].final_step == 40
    assert [x.status for x in r] == ["done", "done", "failed", "failed"]
    assert "unfinished" in r[2].error and "does not exist" in r[3].error
    agg = {row["label"]: row for row in aggregate(r)}
    assert agg["A"]["n_seeds"] == 2 and agg["A"]["n_failed"] == 0
    assert agg["A"]["final_perf_mean"] == pytest.approx(0.85)
    assert agg["A"]["final_perf_std"] == pytest.approx(0.1414213562)  # ddof=1
    assert agg["A"]["steps_to_80_mean"] == 15 and agg["A"]["reached_90"] == 2
    assert agg["B"]["n_seeds"] == 0 and agg["B"]["n_failed"] == 2
    table = summary_table(aggregate(r))
    assert "0.850 ± 0.141" in table and "15 ± 7" in table


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


TINY = {"task_set": "yang19", "hidden": 16, "steps": 10, "eval_every": 5,
        "trials_per_task": 8, "eval_trials": 4, "batch_size": 4, "seq_len": 40}


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))


def _expected(run_dir):
    """Final perf, steps to 80/90 % and seconds, read independently."""
    rows = _read_csv(run_dir / "metrics.csv")
    perf = [float(r["mean_perf"]) for r in rows]
    first = [next((int(r["step"]) for r, p in zip(rows, perf) if p >= lv), None)
             for lv in (0.8, 0.9)]
    return perf[-1], first[0], first[1], float(rows[-1]["seconds"]), int(rows[-1]["step"])


def test_sweep_runs_skips_and_resumes(tmp_path, cache_env):
    out = tmp_path / "sw"
    grid = {"mask": ["locality", "full"], "sparsity": [0.25]}
    lines = []
    rows = sweep(grid, out, seeds=[0, 1], base=TINY, jobs=2, echo=lines.append)
    assert [(r.label, r.seed, r.status) for r in rows] == [
        ("locality_s0.25", 0, "done"), ("full_s0.25", 0, "done"),
        ("locality_s0.25", 1, "done"), ("full_s0.25", 1, "done")]
    for r in rows:
        run = out / f"{r.label}__seed{r.seed}"
        cfg = json.loads((run / "config.json").read_text())
        assert (cfg["mask"], cfg["seed"], cfg["hidden"]) == (r.label.split("_")[0], r.seed, 16)
        assert (r.final_perf, r.steps_to_80, r.steps_to_90, r.wall_s,
                r.final_step) == pytest.approx(_expected(run))
        assert r.final_step == 10
    on_disk = _read_csv(out / "summary.csv")
    assert [float(x["final_perf"]) for x in on_disk] == [r.final_perf for r in rows]
    by_cfg = _read_csv(out / "summary_by_config.csv")
    assert [(x["label"], x["n_seeds"]) for x in by_cfg] == [
        ("locality_s0.25", "2"), ("full_s0.25", "2")]
    assert sum("done" in ln for ln in lines) == 4

    # rerun: everything finished is skipped, nothing retrains
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/last.h5")}
    lines.clear()
    again = sweep(grid, out, seeds=[0, 1], base=TINY, jobs=2, echo=lines.append)
    assert sum(ln.startswith("skip") for ln in lines) == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/last.h5")} == stamps
    assert [r.final_perf for r in again] == [r.final_perf for r in rows]
    # the same settings with a default spelled out are the same runs
    lines.clear()
    sweep(grid, out, seeds=[0, 1], base={**TINY, "device": "cpu", "activation": "relu"},
          jobs=2, echo=lines.append)
    assert sum(ln.startswith("skip") for ln in lines) == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/last.h5")} == stamps

    # an unfinished run (marker gone) and more steps: resumed, not restarted
    run = out / "full_s0.25__seed1"
    (run / "sweep_done.json").unlink()
    before = _read_csv(run / "metrics.csv")
    lines.clear()
    more = sweep(grid, out, seeds=[1], base={**TINY, "steps": 15}, jobs=1,
                 echo=lines.append)
    assert all(r.status == "done" and r.final_step == 15 for r in more)
    after = _read_csv(run / "metrics.csv")
    assert [a["mean_perf"] for a in after[:len(before)]] == \
        [b["mean_perf"] for b in before]
    assert [int(a["step"]) for a in after] == [0, 5, 10, 15]


def test_sweep_cli_failure_is_isolated(tmp_path, cache_env):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an hdf5 file")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"base": TINY, "configs": [
        {"label": "good", "mask": "autapse"},
        {"label": "bad", "mask": "autapse", "cache_path": str(bad)}]}))
    res = CliRunner().invoke(cli, ["sweep", "--grid", str(grid), "--jobs", "2",
                                   "--out", str(tmp_path / "sw")])
    assert res.exit_code == 1, res.output
    assert "1 of 2 runs failed" in res.output
    assert "FAILED bad__seed0" in res.output
    assert (tmp_path / "sw" / "good__seed0" / "sweep_done.json").is_file()
    assert not (tmp_path / "sw" / "bad__seed0" / "sweep_done.json").exists()
    by_cfg = {r["label"]: r for r in _read_csv(tmp_path / "sw" / "summary_by_config.csv")}
    assert by_cfg["good"]["n_seeds"] == "1" and by_cfg["bad"]["n_failed"] == "1"
    assert "configuration" in res.output and "good" in res.output  # the table
    assert (tmp_path / "sw" / "_logs" / "bad__seed0.failed").is_file()

    # after a fix, --restart-failed starts the failed run afresh
    bad.unlink()  # train now builds the cache at cache_path
    res = CliRunner().invoke(cli, ["sweep", "--grid", str(grid), "--restart-failed",
                                   "--out", str(tmp_path / "sw")])
    assert res.exit_code == 0, res.output
    assert "skip  good__seed0" in res.output
    assert (tmp_path / "sw" / "bad__seed0" / "sweep_done.json").is_file()
    assert not (tmp_path / "sw" / "_logs" / "bad__seed0.failed").exists()
    spec = json.loads((tmp_path / "sw" / "_specs" / "bad__seed0.json").read_text())
    assert spec["restart"] is True


@pytest.mark.parametrize("args, needle", [
    (["--mask", "locality", "--sparsity", "1.5"], "sparsity"),
    (["--mask", "bogus"], "bogus"),
    (["--mask", "locality", "--set", "hiden=8"], "hiden"),
    (["--set", "hiden=8"], "hiden"),  # no grid option: the default config, checked at once
    (["--set", "hidden=0", "--dry-run"], "hidden"),
    (["--mask", "full", "--seeds", "0"], "--seeds"),
])
def test_sweep_cli_bad_input(tmp_path, args, needle):
    res = CliRunner().invoke(cli, ["sweep", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "_logs").exists() or not any((tmp_path / "o" / "_logs").iterdir())


def test_sweep_cli_dry_run(tmp_path):
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"configs": [{"label": "big", "hidden": 64}]}))
    toml = tmp_path / "base.toml"
    toml.write_text('lr = 0.005\nseq-len = 77\n')
    res = CliRunner().invoke(cli, [
        "sweep", "--task-set", "yang19", "--mask", "locality", "--mask", "full",
        "--sparsity", "0.04", "--seeds", "2", "--steps", "7", "--grid", str(grid),
        "--config", str(toml), "--dry-run", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    names = [ln.split(":")[0] for ln in res.output.splitlines()]
    assert names == ["yang19_locality_s0.04__seed0", "yang19_full_s0.04__seed0",
                     "big__seed0", "yang19_locality_s0.04__seed1",
                     "yang19_full_s0.04__seed1", "big__seed1"]
    assert '"steps": 7' in res.output and not (tmp_path / "o").exists()
    assert '"lr": 0.005' in res.output and '"seq_len": 77' in res.output


def test_paper_claims_configs_match_synapse_budget():
    import importlib.util
    from pathlib import Path

    from refrnn.core.masks import make_mask
    path = Path(__file__).resolve().parents[1] / "examples" / "paper_claims.py"
    spec = importlib.util.spec_from_file_location("paper_claims", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfgs = mod.paper_configs(["yang19", "modcog"])
    assert len(cfgs) == 12 and len({c["label"] for c in cfgs}) == 12
    big = [c for c in cfgs if c["hidden"] != 256]
    assert [c["task_set"] for c in big] == ["yang19", "modcog"]
    nnz = make_mask("locality", big[0]["hidden"], big[0]["sparsity"]).nnz
    full = make_mask("full", 256).nnz
    assert full == 65536 and nnz == 65280  # within 0.4% of the full network
    assert expand_grid(configs=cfgs, seeds=[0, 1, 2])[-1].seed == 2


def test_parallel_jobs_share_the_cores(monkeypatch):
    """Each of the local sweep's jobs gets its share of the cores for BLAS and
    for refrnn's worker pool (REFRNN_THREADS), unless the user set them."""
    import os

    from refrnn.experiments.sweep import _worker_env

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "REFRNN_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = _worker_env(4)
    assert env["REFRNN_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    monkeypatch.setenv("REFRNN_THREADS", "3")
    assert _worker_env(4)["REFRNN_THREADS"] == "3"
    # the user's worker count is BLAS's too, where the user left BLAS unset
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    env = _worker_env(4)
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"


def test_sweep_cli_without_grid_options_runs_the_default_configuration(tmp_path):
    """--help shows defaults for the grid options; they are what a sweep with
    none of them runs (one configuration, "default")."""
    res = CliRunner().invoke(cli, ["sweep", "--steps", "10", "--seeds", "2", "--dry-run",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    names = [ln.split(":")[0] for ln in res.output.splitlines()]
    assert names == ["default__seed0", "default__seed1"]
    assert '"steps": 10' in res.output
    help_text = " ".join(CliRunner().invoke(cli, ["sweep", "--help"]).output.split())
    assert "[default: locality]" in help_text and "--seed 0, 1, ..., SEEDS-1" in help_text
