"""Sweeps never lose work (refrnn/experiments/run_guard.py): --set values name
the runs, a folder of other settings is refused (and never restarted), and
summary.csv keeps the runs of earlier invocations."""
import csv

from cli_helpers import invoke
from refrnn.experiments.sweep import sweep

SMALL = {"hidden": 16, "sparsity": 0.25, "batch_size": 4, "seq_len": 40, "steps": 2,
         "eval_every": 2, "trials_per_task": 8, "eval_trials": 3}


def _rows(out):
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_set_values_name_the_runs_and_the_summary_keeps_earlier_ones(tmp_path, cache_file):
    out = tmp_path / "sw"
    common = ["sweep", "--hidden", "16", "--steps", "2", "--eval-every", "2", "--out", out,
              "--set", f"cache_path={cache_file}"] + [
        a for k, v in SMALL.items() if k not in ("hidden", "steps", "eval_every")
        for a in ("--set", f"{k}={v}")]
    for lr in ("0.001", "0.01"):
        r = invoke(*common, "--set", f"lr={lr}")
        assert r.exit_code == 0, r.output
    runs = sorted(p.name for p in out.iterdir() if p.name.startswith("N16"))
    assert len(runs) == 2 and "lr0.001" in runs[0] and "lr0.01" in runs[1], runs
    rows = _rows(out)
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows), rows
    r = invoke(*common, "--set", "lr=0.01", "--dry-run")
    assert r.exit_code == 0 and runs[1] in r.output


def test_a_folder_of_other_settings_is_refused_and_never_wiped(tmp_path, cache_file):
    out = tmp_path / "sw"
    base = dict(SMALL, cache_path=cache_file)
    (done,) = sweep({"mask": ["random"]}, out, base=dict(base, lr=0.001))
    assert done.status == "done"
    run = out / "random__seed0"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for restart in (False, True):  # the same label with another lr, without --set naming it
        (row,) = sweep({"mask": ["random"]}, out, base=dict(base, lr=0.01),
                       restart_failed=restart)
        assert row.status == "failed"
        assert "holds a run with lr=0.001" in row.error and "--force" not in row.error
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert len(_rows(out)) == 1
