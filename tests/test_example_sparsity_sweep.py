"""examples/sparsity_sweep.py: the grid it defines and its report on hand-made runs."""
import csv
import json
from pathlib import Path

import pytest
from example_loader import load_example

ROOT = Path(__file__).resolve().parents[1]


def _load():
    return load_example("sparsity_sweep")


def test_grid_matches_the_committed_file_and_the_paper_budget():
    ss = _load()
    spec = ss.grid_spec(3)
    committed = json.loads((ROOT / "docs/results/sparsity_sweep/grid.json").read_text())
    assert spec == committed
    assert sorted({c["sparsity"] for c in spec["configs"]}) == [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 1.0]
    assert len(spec["configs"]) == 14 and spec["seeds"] == [0, 1, 2]
    b = spec["base"]
    assert (b["steps"], b["eval_every"], b["batch_size"], b["seq_len"], b["hidden"],
            b["init_radius"]) == (2000, 100, 32, 200, 256, 1.0)


def _fake_run(out, name, label, seed, perfs):
    d = out / name
    d.mkdir(parents=True)
    with open(d / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "mean_perf", "seconds"])
        for i, p in enumerate(perfs):
            w.writerow([i * 100, 1.0, p, i])
    (d / "sweep_done.json").write_text(json.dumps({"label": label, "seed": seed}))


def test_report_uses_finished_runs_only(tmp_path):
    pytest.importorskip("matplotlib")
    ss = _load()
    out, docs = tmp_path / "runs", tmp_path / "docs"
    docs.mkdir()
    (docs / "results.md").write_text(f"head\n{ss.BEGIN}\n{ss.END}\ntail\n")
    _fake_run(out, "yang19_locality_s0.04_N256__seed0", "yang19_locality_s0.04_N256", 0,
              [0.0, 0.5, 0.85, 0.9])
    _fake_run(out, "yang19_locality_s0.04_N256__seed1", "yang19_locality_s0.04_N256", 1,
              [0.0, 0.4, 0.7, 0.7])
    _fake_run(out, "modcog_full_N256__seed0", "modcog_full_N256", 0, [0.0, 0.6])
    assert ss.main(["--out", str(out), "--docs", str(docs)]) == 0
    text = (docs / "results.md").read_text()
    assert text.startswith("head\n") and text.endswith("tail\n")
    assert "3 of 42 runs finished" in text
    assert "| 0.04 | 10 | 2/3 | 0.800 ± 0.141 | 0.900 0.700 | 200 (1/2) |" in text
    assert "| full | 256 | 1/3 | 0.600 | 0.600 | 100 |" in text
    assert "| 0.01 | 3 | 0/3 | not run yet |" in text
    assert (docs / "results" / "sparsity_sweep.png").stat().st_size > 1000
    rows = list(csv.DictReader(open(docs / "results" / "sparsity_sweep.csv")))
    assert len(rows) == 14
