"""examples/data_efficiency.py: its configurations and a tiny real run."""
import csv

import pytest
from example_loader import load_example



def _load(name):
    return load_example(name)


def test_configs_reuse_the_paper_claims_runs_at_their_trial_count():
    de, pc = _load("data_efficiency"), _load("paper_claims")
    cfgs = de.configs_for(["yang19", "modcog"], [10, 1000], scale=1.0)
    assert len(cfgs) == 8 and len({c["label"] for c in cfgs}) == 8
    paper = {c["label"]: c for c in pc.paper_configs(["yang19", "modcog"])}
    at_1000 = [c for c in cfgs if c["trials_per_task"] == 1000]
    for c in at_1000:  # same label and same settings as the paper_claims run
        p = paper[c["label"]]
        assert {k: c[k] for k in p if k != "label"} == {k: v for k, v in p.items() if k != "label"}
        assert c["steps"] == pc.STEPS[c["task_set"]]
    assert sorted(c["label"] for c in cfgs if c["trials_per_task"] == 10) == [
        "modcog_full_N256_t10", "modcog_locality_s0.04_N256_t10",
        "yang19_full_N256_t10", "yang19_locality_s0.04_N256_t10"]


def test_tiny_run_writes_table_csv_and_figure(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))
    de = _load("data_efficiency")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "results.md").write_text(f"# r\n\nkept above\n{de.BEGIN}\nold\n{de.END}\nkept below\n")
    rc = de.main(["--scale", "0.002", "--seeds", "1", "--trials", "3,6",
                  "--task-set", "yang19", "--out", str(tmp_path / "runs"),
                  "--docs", str(docs), "--jobs", "2"])
    assert rc == 0
    page = (docs / "results.md").read_text()
    assert "kept above" in page and "kept below" in page and "\nold\n" not in page
    rows = [ln for ln in page.splitlines() if ln.startswith("| 3 |") or ln.startswith("| 6 |")]
    assert len(rows) == 2 and all(ln.count("(n=1)") == 4 for ln in rows)
    with open(docs / "results" / "data_efficiency.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["mask"], r["trials_per_task"]) for r in table] == [
        ("locality", "3"), ("locality", "6"), ("full", "3"), ("full", "6")]
    for r in table:  # the numbers come from the runs' own metrics logs
        log = tmp_path / "runs" / f"{r['label']}__seed0" / "metrics.csv"
        with open(log, newline="") as f:
            perf = [float(x["mean_perf"]) for x in csv.DictReader(f)]
        assert float(r["final_perf_mean"]) == pytest.approx(perf[-1])
        assert float(r["peak_perf_mean"]) == pytest.approx(max(perf))
    assert (docs / "results" / "data_efficiency.png").stat().st_size > 1000
