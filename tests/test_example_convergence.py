"""examples/convergence.py: its grids, family rule, and report on hand-made runs."""
import csv
import json
from pathlib import Path

import pytest
from example_loader import load_example

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["go", "dlygointr", "goseqr", "dlygointrseqr"]  # one task of each family


def test_grids_match_the_committed_files():
    cv = load_example("convergence")
    for stem, spec in cv.grid_specs().items():
        committed = json.loads((ROOT / "docs/results/convergence" / f"{stem}.json").read_text())
        assert spec == committed, stem
    n256 = cv.grid_specs()["grid_n256"]
    assert n256["base"]["steps"] == 20000 and n256["base"]["trials_per_task"] == 10000
    assert n256["seeds"] == [0, 1, 2]
    assert cv.grid_specs()["grid_lr"]["base"]["lr"] == 1e-3


def test_family_rule():
    cv = load_example("convergence")
    assert [cv.family(t) for t in TASKS] == ["base", "int", "seq", "int+seq"]
    assert cv.family("dlyanti") == "base"


def _fake_run(folder, name, perfs, step_every=500, match=None):
    """metrics.csv of a run: base and int tasks at p, seq tasks at p / 2, and
    two matching tasks with interval integration at ``match`` (default p)."""
    d = folder / name
    d.mkdir(parents=True)
    match = perfs if match is None else match
    with open(d / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "mean_perf"] + [f"perf_{t}" for t in TASKS]
                   + ["perf_dmsintl", "perf_dnmcintrseql", "seconds"])
        for i, (p, m) in enumerate(zip(perfs, match)):
            w.writerow([i * step_every, 1.0, p, p, p, p / 2, p / 2, m, m, 10.0 * i])


def test_report_counts_finished_runs_and_never_extrapolates(tmp_path):
    pytest.importorskip("matplotlib")
    cv = load_example("convergence")
    cv.BASE = {**cv.BASE, "steps": 1000}     # three evaluations make a finished run
    runs, docs = tmp_path / "runs", tmp_path / "docs"
    (docs / "results" / "convergence").mkdir(parents=True)
    (docs / "results.md").write_text(f"head\n{cv.BEGIN}\n{cv.END}\ntail\n")
    # trials shown by seed: 0, 300 and 600 at updates 0, 500, 1000
    (docs / "results" / "convergence" / "trials_shown.json").write_text(
        json.dumps({"0": [0, 300, 600], "1": [0, 310, 620]}))
    n256 = runs / "n256"
    _fake_run(n256, "modcog_locality_s0.04_N256__seed0", [0.0, 0.6, 0.8])
    _fake_run(n256, "modcog_locality_s0.04_N256__seed1", [0.0, 0.4, 0.6],
              match=[0.5, 0.5, 0.5])  # the matching tasks never solved
    _fake_run(n256, "modcog_full_N256__seed0", [0.0, 0.7])  # unfinished: update 500
    summary = cv.report(runs, docs, replay=False)
    by = {r["label"]: r for r in summary}
    loc = by["modcog_locality_s0.04_N256"]
    assert (loc["n_finished"], loc["n_planned"]) == (2, 3)
    assert loc["final_perf_mean"] == pytest.approx(0.7)
    assert loc["updates_to_0.5_mean"] == pytest.approx(750)  # 500 and 1000
    assert loc["trials_to_0.5_mean"] == pytest.approx((300 + 620) / 2)
    assert loc["reached_0.8"] == 1 and loc["reached_0.9"] == 0
    assert loc["final_seq_mean"] == pytest.approx(0.35)
    # seed 0's two matching tasks reach 0.8 at update 1000; seed 1's stay at 0.5
    assert loc["match_final_mean"] == pytest.approx((0.8 + 0.5) / 2)
    assert loc["other_final_mean"] == pytest.approx(((0.8 + 0.4) / 2 + (0.6 + 0.3) / 2) / 2)
    assert loc["match_solved_by_seed"] == "0:1000 1:-"
    full = by["modcog_full_N256"]
    assert full["n_finished"] == 0 and full["final_perf_mean"] is None
    assert (full["partial_step"], full["partial_perf_mean"]) == (500, pytest.approx(0.7))
    assert loc["partial_step"] is None  # its third seed has logged nothing
    text = (docs / "results.md").read_text()
    assert text.startswith("head\n") and text.endswith("tail\n")
    assert "2 of 17 runs finished" in text and "hours of training logged so far" in text
    assert "unfinished: 1 at update 500: 0.700 |" in text  # one seed: no spread shown
    assert f"| modcog_locality_s0.04_N256 | 2/3 | {loc['final_perf_mean']:.3f} ± " in text
    assert "not reached (0/2)" in text
    assert "| seed 0: 1,000, seed 1: not reached |" in text
    assert (docs / "results" / "convergence.png").stat().st_size > 1000
